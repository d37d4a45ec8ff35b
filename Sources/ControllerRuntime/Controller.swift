import NetCore

/// Runs reconciles for the keys in a `WorkQueue` on several workers. A key is never
/// reconciled twice at once (the queue guarantees it); a failing key backs off on its own
/// without holding up the others.
public struct Controller: Sendable {
    public let name: String
    public let queue: WorkQueue<ObjectKey>
    public let workers: Int
    public let logger: Logger
    public let metrics: MetricsRegistry
    let reconcile: @Sendable (ObjectKey) async throws -> Action

    public init(name: String, queue: WorkQueue<ObjectKey>, workers: Int, logger: Logger, metrics: MetricsRegistry,
                reconcile: @escaping @Sendable (ObjectKey) async throws -> Action) {
        self.name = name
        self.queue = queue
        self.workers = max(1, workers)
        self.logger = logger
        self.metrics = metrics
        self.reconcile = reconcile
        Self.registerMetrics(metrics)
    }

    public static func registerMetrics(_ metrics: MetricsRegistry) {
        metrics.register("ensemble_operator_reconcile_total", .counter, help: "Reconciles by result (success, requeue, error).")
        metrics.register("ensemble_operator_reconcile_errors_total", .counter, help: "Reconciles that failed.")
        metrics.register("ensemble_operator_reconcile_duration_seconds", .histogram, help: "Time one reconcile took.",
                         buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10])
        metrics.register("ensemble_operator_workqueue_depth", .gauge, help: "Keys waiting for a worker.")
    }

    /// Runs until the queue is shut down; a reconcile in flight then finishes before this
    /// returns (graceful shutdown never cuts one in half).
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await queue.runTimers() }
            for worker in 0..<workers {
                group.addTask { await work(worker) }
            }
        }
    }

    func work(_ worker: Int) async {
        while let key = await queue.next() {
            let start = monotonicNanoseconds()
            do {
                let action = try await reconcile(key)
                await queue.forget(key)
                switch action {
                case .awaitChange:
                    metrics.increment("ensemble_operator_reconcile_total", ["controller": name, "result": "success"])
                case .requeue(let seconds):
                    metrics.increment("ensemble_operator_reconcile_total", ["controller": name, "result": "requeue"])
                    await queue.addAfter(key, seconds: seconds)
                }
            } catch {
                metrics.increment("ensemble_operator_reconcile_total", ["controller": name, "result": "error"])
                metrics.increment("ensemble_operator_reconcile_errors_total", ["controller": name])
                let delay = await queue.addWithBackoff(key)
                logger.warning("reconcile failed", ["key": key.description, "error": "\(error)", "retryIn": String(format3(delay)) + "s"])
            }
            metrics.observe("ensemble_operator_reconcile_duration_seconds", ["controller": name], Double(monotonicNanoseconds() - start) / 1e9)
            await queue.done(key)
        }
    }
}

func format3(_ value: Double) -> String {
    let scaled = (value * 1000).rounded() / 1000
    return String(scaled)
}
