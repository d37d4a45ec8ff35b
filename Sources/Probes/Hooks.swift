#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NetCore

/// `ensemble-probe hooks`: several commands for one postStart or preStop hook, in order. The
/// member images may have no shell to chain them, and the operator's own step (Cassandra's
/// `nodetool drain`) must run after the user's even when those fail or hang.
struct HookPlan: Equatable {
    /// The user's commands, each an argv.
    var steps: [[String]]
    /// Seconds all of `steps` together may take; the one running when it is spent is
    /// stopped (SIGTERM, SIGKILL 2 s later) and the rest are skipped. nil: no bound.
    var budget: Double?
    /// The operator's command, run after `steps` whatever happened to them.
    var finally: [String]?
}

let hooksHelp = """
    Usage: ensemble-probe hooks [--budget SECS] STEP... [--finally STEP]

    Runs each STEP in order and waits for it; a STEP is a count N followed by N arguments
    (the program, then its arguments), e.g. `2 nodetool drain`. Programs are looked up on
    PATH and inherit the environment, stdout and stderr.
      --budget SECS   The steps before --finally get this many seconds together; the step
                      still running then is stopped (SIGTERM, SIGKILL after 2 s) and the
                      remaining ones are skipped.
      --finally STEP  Runs after the other steps, whether they passed, failed or were
                      stopped, with no bound of its own (kubelet's grace period bounds it).

    Exit status: that of the --finally step when there is one (0, else 1); without it 0 when
    every step passed, else 1; 2 on a usage error. One line on stderr per step.
    """

func parseHooks(_ arguments: [String]) throws(UsageError) -> Invocation {
    var rest = arguments[...]
    var plan = HookPlan(steps: [], budget: nil, finally: nil)
    func step() throws(UsageError) -> [String] {
        let countText = rest.popFirst() ?? ""
        guard let count = Int(countText), count >= 1 else {
            throw UsageError("a step starts with its argument count (1 or more), got '\(countText)'")
        }
        guard rest.count >= count else { throw UsageError("a step of \(count) arguments has only \(rest.count)") }
        let argv = Array(rest.prefix(count))
        rest = rest.dropFirst(count)
        if argv[0].isEmpty { throw UsageError("a step needs a program") }
        return argv
    }
    while let next = rest.first {
        switch next {
        case "-h", "--help": return .help(.hooks)
        case "--budget":
            rest.removeFirst()
            guard let text = rest.popFirst(), let seconds = Double(text), seconds > 0, seconds <= 86400 else {
                throw UsageError("--budget must be a number of seconds above 0 and at most 86400")
            }
            plan.budget = seconds
        case "--finally":
            rest.removeFirst()
            plan.finally = try step()
            guard rest.isEmpty else { throw UsageError("--finally takes one step and comes last") }
        default:
            plan.steps.append(try step())
        }
    }
    if plan.steps.isEmpty && plan.finally == nil { throw UsageError("hooks needs at least one step") }
    return .hooks(plan)
}

/// Runs the plan; returns the exit status.
func runHooks(_ plan: HookPlan) -> Int32 {
    let deadline = plan.budget.map { Deadline.after(seconds: $0) }
    var allPassed = true
    for (index, argv) in plan.steps.enumerated() {
        if let deadline, deadline.hasPassed {
            say("hooks: step \(index + 1) (\(argv[0])) skipped: the --budget is spent")
            allPassed = false
            continue
        }
        let outcome = runStep(argv, deadline: deadline)
        say("hooks: step \(index + 1) (\(argv[0])) \(outcome.description)")
        if !outcome.passed { allPassed = false }
    }
    if let finally = plan.finally {
        let outcome = runStep(finally, deadline: nil)
        say("hooks: final step (\(finally[0])) \(outcome.description)")
        return outcome.passed ? 0 : 1
    }
    return allPassed ? 0 : 1
}

struct StepOutcome {
    var passed: Bool
    var description: String
}

func runStep(_ argv: [String], deadline: Deadline?) -> StepOutcome {
    var pid: pid_t = 0
    let cArgs = argv.map { strdup($0) } + [nil]
    defer { cArgs.forEach { free($0) } }
    let spawned = posix_spawnp(&pid, argv[0], nil, nil, cArgs, environ)
    guard spawned == 0 else {
        return StepOutcome(passed: false, description: "could not start: \(String(cString: strerror(spawned)))")
    }
    var status: Int32 = 0
    var stopping: Deadline?
    while true {
        let reaped = waitpid(pid, &status, deadline == nil && stopping == nil ? 0 : WNOHANG)
        if reaped == pid { break }
        if reaped < 0 {
            if errno == EINTR { continue }
            return StepOutcome(passed: false, description: "lost track of the process: \(String(cString: strerror(errno)))")
        }
        if let stopping {
            if stopping.hasPassed { kill(pid, SIGKILL); _ = waitpid(pid, &status, 0); break }
        } else if let deadline, deadline.hasPassed {
            kill(pid, SIGTERM)
            stopping = .after(seconds: 2)
        }
        usleep(10_000)  // poll interval; the deadlines bound the wait
    }
    if stopping != nil { return StepOutcome(passed: false, description: "stopped: the --budget ran out") }
    if status & 0x7f == 0 {
        let code = (status >> 8) & 0xff
        return StepOutcome(passed: code == 0, description: code == 0 ? "passed" : "failed with exit status \(code)")
    }
    return StepOutcome(passed: false, description: "killed by signal \(status & 0x7f)")
}
