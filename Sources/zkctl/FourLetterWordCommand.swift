import ArgumentParser
import Foundation
import NetCore
import ZKAdmin

/// `zkctl 4lw CMD --members ...|--local NAME`: the raw reply, for what `health` does not show.
struct FourLetterWordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "4lw",
        abstract: "Send a four-letter word (ruok, srvr, mntr, conf, ...) and print each member's raw reply.",
        discussion: """
            With several members every reply is preceded by a "== host:port ==" line. \
            Exit status: 0 when every member answered, 1 when any did not (the reason goes \
            to stderr), 64 usage error.
            """)

    @Argument(help: "The four-letter word, e.g. ruok, srvr, mntr, conf, isro.")
    var word: String

    @OptionGroup var target: EnsembleTarget

    @Option(help: "Seconds to wait for each member.")
    var timeout: Double = 5

    func validate() throws {
        guard word.count == 4, word.allSatisfy({ $0.isASCII && $0.isLetter }) else {
            throw ValidationError("'\(word)' is not a four-letter word")
        }
        try validateDurationOption(timeout, "--timeout", maximum: 600)
    }

    func run() throws {
        let targets = try target.endpoints()
        let word = self.word.lowercased()
        let replies = queryMembers(targets, timeout: timeout) { host, port, deadline in
            Result { () throws(FourLetterWordError) in try FourLetterWord.send(word, host: host, port: port, deadline: deadline) }
        }
        var failed = false
        for (member, result) in replies {
            if targets.count > 1 { print("== \(member) ==") }
            switch result {
            case .success(let reply):
                print(reply, terminator: reply.hasSuffix("\n") || reply.isEmpty ? "" : "\n")
            case .failure(let error):
                failed = true
                FileHandle.standardError.write(Data("zkctl: \(member): \(error)\n".utf8))
            }
        }
        if failed { throw ExitCode(1) }
    }
}
