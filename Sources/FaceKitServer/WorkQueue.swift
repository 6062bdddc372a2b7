import Foundation

/// Runs the engine's blocking, CPU-bound calls on a few dedicated threads, so
/// they never hold up the event loops that serve other connections.
///
/// At most `workers` jobs run at once and at most `depth` wait; beyond that a
/// job is refused at once (the server answers 503 with Retry-After) rather
/// than growing a queue that would only end in timeouts. A job that times out
/// or whose client goes away leaves the queue if it has not started; one that
/// has started runs to the end on its thread, because native inference cannot
/// be interrupted, and keeps its worker busy until then, so the bound holds.
public final class WorkQueue: @unchecked Sendable {
    public enum Refusal: Error, Equatable, Sendable {
        /// Every worker is busy and the queue is full.
        case full(queued: Int)
        /// The job did not finish within its time limit.
        case timedOut(seconds: Double)
        /// The queue has been shut down.
        case stopped
    }

    public struct Snapshot: Sendable, Equatable {
        public let running: Int
        public let queued: Int
    }

    public let workers: Int
    public let depth: Int

    // Guards every var below; the unchecked Sendable rests on it.
    private let condition = NSCondition()
    private var pending: [Entry] = []
    private var running = 0
    private var stopped = false
    private var threadsLeft = 0
    private let onChange: @Sendable (Snapshot) -> Void

    private struct Entry {
        let settled: () -> Bool
        let run: () -> Void
        let refuse: (Refusal) -> Void
    }

    /// - Parameter onChange: called, outside the lock, with the counts after each change (for metrics).
    public init(workers: Int, depth: Int, onChange: @escaping @Sendable (Snapshot) -> Void = { _ in }) {
        self.workers = max(1, workers)
        self.depth = max(0, depth)
        self.onChange = onChange
        threadsLeft = self.workers
        for index in 0..<self.workers {
            let thread = Thread { [self] in self.workLoop() }
            thread.name = "facekit-engine-\(index)"
            // Native inference (OpenCV dnn, dlib) recurses deeper than a
            // secondary thread's default stack on some platforms allows.
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    public var snapshot: Snapshot {
        condition.lock()
        defer { condition.unlock() }
        return Snapshot(running: running, queued: pending.count)
    }

    /// Runs `body` on a worker thread and returns its result; throws a
    /// Refusal when the queue is full or the time runs out, and
    /// CancellationError when the task is cancelled first.
    public func run<T: Sendable>(timeout: Double, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        let ticket = Ticket<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                ticket.install(continuation)
                do {
                    try enqueue(Entry(
                        settled: { ticket.isSettled },
                        run: {
                            guard !ticket.isSettled else { return }
                            ticket.settle(Result { try body() })
                        },
                        refuse: { ticket.settle(.failure($0)) }))
                } catch {
                    ticket.settle(.failure(error))
                    return
                }
                DispatchQueue.global().asyncAfter(deadline: .now() + timeout) {
                    ticket.settle(.failure(Refusal.timedOut(seconds: timeout)))
                }
            }
        } onCancel: {
            ticket.settle(.failure(CancellationError()))
        }
    }

    /// Stops taking jobs, lets the running ones finish, refuses the queued
    /// ones, and waits for the threads to end.
    public func shutdown() {
        condition.lock()
        stopped = true
        let abandoned = pending
        pending.removeAll()
        condition.broadcast()
        while threadsLeft > 0 { condition.wait() }
        condition.unlock()
        for entry in abandoned { entry.refuse(.stopped) }
        report()
    }

    private func enqueue(_ entry: Entry) throws {
        condition.lock()
        if stopped {
            condition.unlock()
            throw Refusal.stopped
        }
        // Jobs that timed out or were cancelled while waiting give their place back.
        pending.removeAll { $0.settled() }
        if pending.count >= depth && running >= workers {
            let queued = pending.count
            condition.unlock()
            throw Refusal.full(queued: queued)
        }
        pending.append(entry)
        condition.signal()
        condition.unlock()
        report()
    }

    private func workLoop() {
        while true {
            condition.lock()
            while pending.isEmpty && !stopped { condition.wait() }
            if pending.isEmpty && stopped {
                threadsLeft -= 1
                condition.broadcast()
                condition.unlock()
                return
            }
            let entry = pending.removeFirst()
            running += 1
            condition.unlock()
            report()
            entry.run()
            condition.lock()
            running -= 1
            condition.unlock()
            report()
        }
    }

    private func report() {
        onChange(snapshot)
    }
}

/// One job's outcome, delivered once: by the worker, the timer or the
/// cancellation, whichever comes first.
private final class Ticket<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    // Guarded by lock.
    private var continuation: CheckedContinuation<T, any Error>?
    private var outcome: Result<T, any Error>?
    private var delivered = false

    var isSettled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return outcome != nil
    }

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        lock.lock()
        if let outcome, !delivered {
            delivered = true
            lock.unlock()
            continuation.resume(with: outcome)
            return
        }
        self.continuation = continuation
        lock.unlock()
    }

    func settle(_ result: Result<T, any Error>) {
        lock.lock()
        guard outcome == nil else {
            lock.unlock()
            return
        }
        outcome = result
        let waiting = continuation
        continuation = nil
        if waiting != nil { delivered = true }
        lock.unlock()
        waiting?.resume(with: result)
    }
}
