#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetCore

// Exit status: 0 pass, 1 fail, 2 usage error. Exactly one line goes to stderr: kubelet puts
// it into the pod's events when a probe fails.

func say(_ line: String) {
    // Long enough for a message naming two paths; what came from outside is bounded earlier.
    let bytes = Array(("ensemble-probe: " + sanitizedLine(line, limit: 1000) + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress!, $0.count) }
}

/// Backstop for the hard time bound: every socket wait and name resolution (NetCore's
/// resolver thread) already honour the deadline; should anything still overrun it, SIGALRM
/// ends the process with a fixed message using only async-signal-safe calls.
func armWatchdog(seconds: Double) {
    signal(SIGALRM) { _ in
        let message: StaticString = "ensemble-probe: timed out: no complete answer within --timeout\n"
        _ = write(2, message.utf8Start, message.utf8CodeUnitCount)
        _exit(1)
    }
    // A blocked signal mask survives exec: a parent that blocks SIGALRM would otherwise
    // leave the alarm pending forever and this backstop would never fire.
    var alarm = sigset_t()
    sigemptyset(&alarm)
    sigaddset(&alarm, SIGALRM)
    sigprocmask(SIG_UNBLOCK, &alarm, nil)
    let micros = max(Int(seconds * 1_000_000), 1_000)
    var timer = itimerval()
    timer.it_value.tv_sec = micros / 1_000_000
    timer.it_value.tv_usec = micros % 1_000_000
    setitimer(__itimer_which_t(ITIMER_REAL.rawValue), &timer, nil)
}

let invocation: Invocation
do {
    invocation = try parseArguments(CommandLine.arguments)
} catch {
    say("\(error.message) (see ensemble-probe --help)")
    exit(2)
}

switch invocation {
case .help(let command):
    print(help(for: command))
    exit(0)
case .install(let options):
    do {
        say(try runInstall(options, environment: { name in getenv(name).map { String(cString: $0) } }))
        exit(0)
    } catch {
        say(error.message)
        exit(1)
    }
case .hooks(let plan):
    exit(runHooks(plan))
case .probe(let command, var options):
    if let variable = options.hostEnvironment {
        guard let value = getenv(variable).map({ String(cString: $0) }), !value.isEmpty else {
            say("\(variable) is not set: --host-env needs the address in it (for POD_IP: the downward API's status.podIP)")
            exit(1)
        }
        options.host = value
    }
    // The sockets' deadline comes a little before the watchdog so the specific reason
    // ("timed out reading from ...") normally wins over the generic one.
    let margin = min(0.1, options.timeout / 10)
    armWatchdog(seconds: options.timeout - margin / 4)
    let result = runProbe(command, options, deadline: .after(seconds: options.timeout - margin))
    say(result.message)
    exit(result.passed ? 0 : 1)
}
