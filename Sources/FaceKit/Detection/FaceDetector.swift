import Foundation
import CFaceKitNative

/// One face as a detector reports it, in the coordinates of the image it saw.
struct RawDetection: Sendable {
    var x: Double, y: Double, w: Double, h: Double
    var confidence: Double
    var landmarks: [Int: Point]  // keyed by FK_LM_* slot
}

/// A loaded native detector. Not thread-safe by itself: the engine keeps
/// detectors in a Pool so that each is used by one thread at a time.
final class FaceDetector: @unchecked Sendable {
    let backend: DetectorBackend
    private let handle: OpaquePointer

    init(backend: DetectorBackend, paths: [String]) throws {
        self.backend = backend
        let kind: fk_detector_kind
        switch backend {
        case .opencv: kind = FK_DETECTOR_OPENCV
        case .ssd: kind = FK_DETECTOR_SSD
        case .yunet: kind = FK_DETECTOR_YUNET
        case .dlib: kind = FK_DETECTOR_DLIB
        case .mtcnn: kind = FK_DETECTOR_MTCNN
        case .skip: throw FaceKitError.invalidInput("skip has no detector")
        }
        var cStrings = paths.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        do {
            handle = try cStrings.withUnsafeMutableBufferPointer { buf in
                try buf.withMemoryRebound(to: UnsafePointer<CChar>?.self) { ptrs in
                    try Native.make { fk_detector_open(kind, ptrs.baseAddress, Int32(paths.count), $0, $1) }
                }
            }
        } catch FaceKitError.modelLoadFailed(_, let reason) {
            throw FaceKitError.modelLoadFailed(model: "detector \(backend.rawValue)", reason: reason)
        }
    }

    deinit { fk_detector_free(handle) }

    func detect(_ image: Image, scoreThreshold: Float = -1) throws -> [RawDetection] {
        var capacity: Int32 = 64
        while true {
            var faces = [fk_face](repeating: fk_face(), count: Int(capacity))
            var count: Int32 = 0
            try Native.check { err in
                faces.withUnsafeMutableBufferPointer { fk_detector_detect(handle, image.handle, scoreThreshold, $0.baseAddress, capacity, &count, err) }
            }
            if count > capacity {
                capacity = count
                continue
            }
            return faces.prefix(Int(count)).map { f in
                var landmarks: [Int: Point] = [:]
                withUnsafeBytes(of: f.landmarks) { raw in
                    let values = raw.bindMemory(to: Float.self)
                    for slot in 0..<Int(FK_LM_COUNT) where f.landmark_mask & (1 << slot) != 0 {
                        landmarks[slot] = Point(x: Double(values[2 * slot]), y: Double(values[2 * slot + 1]))
                    }
                }
                return RawDetection(x: Double(f.x), y: Double(f.y), w: Double(f.w), h: Double(f.h),
                                    confidence: Double(f.confidence), landmarks: landmarks)
            }
        }
    }

    /// deepface's Haar eye finder on the box (x, y, w, h); coordinates relative to the box.
    func findEyes(_ image: Image, x: Int, y: Int, w: Int, h: Int) throws -> (left: Point, right: Point)? {
        var found: Int32 = 0
        var eyes: (Float, Float, Float, Float) = (0, 0, 0, 0)
        try Native.check { err in
            withUnsafeMutableBytes(of: &eyes) { raw in
                fk_detector_find_eyes(handle, image.handle, Int32(x), Int32(y), Int32(w), Int32(h), &found,
                                      raw.bindMemory(to: Float.self).baseAddress, err)
            }
        }
        guard found != 0 else { return nil }
        return (Point(x: Double(eyes.0), y: Double(eyes.1)), Point(x: Double(eyes.2), y: Double(eyes.3)))
    }
}
