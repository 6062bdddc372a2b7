import Foundation

/// A value behind a lock: the engine's caches of loaded models, the store's
/// loaded matrices.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// Jobs 0..<count on up to `lanes` threads, each thread taking the next job
/// as it finishes one, so uneven jobs (large and small images, a long load
/// and a short one) balance themselves. Returns when all are done.
public func runShared(_ count: Int, lanes: Int, _ job: @Sendable (Int) -> Void) {
    let next = Locked(0)
    DispatchQueue.concurrentPerform(iterations: max(1, min(lanes, count))) { _ in
        while true {
            let index: Int = next.withLock { value in
                defer { value += 1 }
                return value
            }
            guard index < count else { return }
            job(index)
        }
    }
}
