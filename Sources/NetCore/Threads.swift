#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A pthread mutex with one condition variable whose timed waits run on the monotonic clock,
/// like `Deadline`. Plain pthreads: the probe links Glibc and NetCore only, and
/// `Synchronization.Mutex` has no condition variable.
public final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        #if canImport(Darwin)
        pthread_cond_init(condition, nil)
        #else
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        // Timed waits take an absolute time on this clock: a wall-clock jump must not
        // stretch or cut them.
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
        #endif
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Releases the lock until `signal()` (or a spurious wake-up), then takes it again.
    /// Only inside `withLock`; callers re-check their condition in a loop.
    public func wait() {
        pthread_cond_wait(condition, mutex)
    }

    /// `wait()` that also returns once `deadline` has passed. Only inside `withLock`.
    public func wait(until deadline: Deadline) {
        #if canImport(Darwin)
        let now = monotonicNanoseconds()
        guard deadline.nanoseconds > now else { return }
        let left = deadline.nanoseconds - now
        var relative = timespec(tv_sec: Int(min(left / 1_000_000_000, UInt64(Int32.max))), tv_nsec: Int(left % 1_000_000_000))
        pthread_cond_timedwait_relative_np(condition, mutex, &relative)
        #else
        var absolute = timespec(
            tv_sec: Int(deadline.nanoseconds / 1_000_000_000), tv_nsec: Int(deadline.nanoseconds % 1_000_000_000))
        pthread_cond_timedwait(condition, mutex, &absolute)
        #endif
    }

    /// Wakes every thread in `wait()`.
    public func signal() {
        pthread_cond_broadcast(condition)
    }
}

/// Runs `body` on a new detached thread, for loops that block in poll(2) or in the resolver
/// and so must not occupy one of Swift concurrency's few threads. False if no thread could
/// be started.
public func startDetachedThread(_ body: @escaping @Sendable () -> Void) -> Bool {
    final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    defer { pthread_attr_destroy(&attributes) }
    #if canImport(Darwin)
    var thread: pthread_t?
    #else
    var thread = pthread_t()
    #endif
    let rc = pthread_create(&thread, &attributes, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        box.body()
        return nil
    }, context)
    if rc != 0 { Unmanaged<Box>.fromOpaque(context).release() }
    return rc == 0
}
