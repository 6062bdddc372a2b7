import Foundation

/// A small pool of non-thread-safe native objects (networks, detectors).
///
/// Each object is used by one thread at a time; up to `capacity` are created
/// lazily, so two workers can run two copies of a model side by side while a
/// single-threaded caller pays for one. Guarded by an NSCondition, which is
/// why the unchecked Sendable holds.
final class Pool<Element>: @unchecked Sendable {
    private let condition = NSCondition()
    private var idle: [Element] = []
    private var created = 0
    private let capacity: Int
    private let make: () throws -> Element

    init(capacity: Int, make: @escaping () throws -> Element) {
        self.capacity = max(1, capacity)
        self.make = make
    }

    func with<R>(_ body: (Element) throws -> R) throws -> R {
        let element = try acquire()
        defer { release(element) }
        return try body(element)
    }

    /// Creates the first element now, so that a load error surfaces early and
    /// the cost is paid once.
    func warmUp() throws {
        try with { _ in }
    }

    private func acquire() throws -> Element {
        condition.lock()
        while true {
            if let element = idle.popLast() {
                condition.unlock()
                return element
            }
            if created < capacity {
                created += 1
                condition.unlock()
                do {
                    return try make()
                } catch {
                    condition.lock()
                    created -= 1
                    condition.signal()
                    condition.unlock()
                    throw error
                }
            }
            condition.wait()
        }
    }

    private func release(_ element: Element) {
        condition.lock()
        idle.append(element)
        condition.signal()
        condition.unlock()
    }
}
