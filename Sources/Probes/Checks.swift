import NetCore
import ZKAdmin

/// A probe's outcome: pass or fail, with the one line kubelet will show.
struct ProbeResult {
    var passed: Bool
    var message: String

    static func pass(_ message: String) -> ProbeResult { ProbeResult(passed: true, message: message) }
    static func fail(_ message: String) -> ProbeResult { ProbeResult(passed: false, message: message) }
}

func runProbe(_ command: Command, _ options: ProbeOptions, deadline: Deadline) -> ProbeResult {
    let target = "\(options.host):\(options.port)"
    switch command {
    case .zkLive, .zkStartup:
        do {
            let reply = try FourLetterWord.areYouOK(host: options.host, port: options.port, deadline: deadline)
            if reply == "imok" { return .pass("imok from \(target)") }
            if reply.isEmpty { return .fail("ruok on \(target): connection closed without an answer") }
            return .fail("ruok on \(target) answered \(quoted(reply)), expected imok")
        } catch {
            if command == .zkStartup, case .network(.connect) = error {
                // ZooKeeper binds its client port only after loading its data.
                return .fail("\(error) (still loading data, or not started)")
            }
            return .fail("ruok on \(target): \(error)")
        }
    case .zkReady:
        do {
            let status = try ServerStatus.fetch(host: options.host, port: options.port, deadline: deadline)
            let zxid = "zxid 0x" + String(status.zxid, radix: 16)
            switch status.mode {
            case .leader, .follower, .observer:
                return .pass("ready: \(status.mode.rawValue), \(zxid)")
            case .standalone where options.allowStandalone:
                return .pass("ready: standalone (one-member ensemble), \(zxid)")
            case .standalone:
                return .fail("not ready: \(target) runs standalone, outside any quorum (--allow-standalone only for a one-member ensemble)")
            case .readOnly:
                return .fail("not ready: \(target) is read-only (cut off from the quorum)")
            }
        } catch .notServing {
            return .fail("not ready: \(target) is not currently serving requests (no quorum)")
        } catch {
            return .fail("not ready: srvr on \(target): \(error)")
        }
    case .cqlReady:
        do {
            let supported = try CQLHandshake.options(host: options.host, port: options.port, deadline: deadline)
            let version = supported["CQL_VERSION"]?.joined(separator: ",") ?? "?"
            return .pass("ready: SUPPORTED from \(target), CQL_VERSION \(version)")
        } catch {
            return .fail("not ready: CQL OPTIONS on \(target): \(error)")
        }
    case .cqlLive, .tcpLive:
        do {
            let connection = try TCPConnection.connect(host: options.host, port: options.port, deadline: deadline)
            connection.close()
            return .pass("\(target) accepts connections")
        } catch {
            return .fail("\(error)")
        }
    case .install, .hooks:
        return .fail("\(command.rawValue) is not a probe")
    }
}

/// A peer's text made safe for one short line: printable ASCII only, bounded length.
func quoted(_ text: String, limit: Int = 60) -> String {
    var result = ""
    for scalar in text.unicodeScalars {
        if result.count >= limit { result += "..."; break }
        if scalar.value >= 0x20 && scalar.value < 0x7f {
            result.unicodeScalars.append(scalar)
        } else if scalar == "\n" {
            result += "\\n"
        } else {
            result += "?"
        }
    }
    return "'" + result + "'"
}
