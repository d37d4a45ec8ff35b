import Foundation
import ZooKeeperTestSupport

/// The repository root, from this file's location.
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func zkctl(_ arguments: [String], stdin: String? = nil) throws -> ProcessResult {
    try runProcess(try builtProduct("zkctl"), arguments, stdin: stdin, timeout: 60)
}
