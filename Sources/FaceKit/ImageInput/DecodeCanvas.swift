import CFaceKitNative

/// A reusable buffer that images are decoded into, inside deepface's zero
/// border (half the height above and below, half the width on each side),
/// so that padding before detection copies nothing and a folder of images
/// does not map, fault in and zero fresh memory for every image: the
/// canvas clears only what the previous image wrote.
///
/// Not thread-safe: one thread uses a canvas at a time (CanvasShelf hands
/// them out), which is why the unchecked Sendable holds. Images decoded
/// into it stay valid after it is reused or freed (the native side keeps
/// their memory alive and takes fresh memory for the next image meanwhile).
final class DecodeCanvas: @unchecked Sendable {
    let handle: OpaquePointer

    init() throws {
        guard let handle = fk_canvas_new() else { throw FaceKitError.inferenceFailed("cannot allocate a decode canvas") }
        self.handle = handle
    }

    deinit { fk_canvas_free(handle) }
}

/// Canvases for the engine's lanes. Never blocks: a caller finding the shelf
/// empty (more images in flight than lanes, e.g. server requests) gets a new
/// canvas, and at most `capacity` are kept for reuse (0: none, each image
/// gets a fresh one).
final class CanvasShelf: Sendable {
    private let idle = Locked<[DecodeCanvas]>([])
    private let capacity: Int

    init(capacity: Int) { self.capacity = max(0, capacity) }

    func with<R>(_ body: (DecodeCanvas) throws -> R) throws -> R {
        let canvas = try idle.withLock { $0.popLast() } ?? DecodeCanvas()
        defer {
            idle.withLock { shelf in
                if shelf.count < capacity { shelf.append(canvas) }
            }
        }
        return try body(canvas)
    }
}
