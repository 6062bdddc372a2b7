import CFaceKitNative

final class DlibResNet: @unchecked Sendable {
    private let handle: OpaquePointer

    init(path: String) throws {
        do {
            handle = try Native.make { fk_dlib_resnet_open(path, $0, $1) }
        } catch FaceKitError.modelLoadFailed(_, let reason) {
            throw FaceKitError.modelLoadFailed(model: "Dlib", reason: reason)
        }
    }

    deinit { fk_dlib_resnet_free(handle) }

    func compute(chips: [UInt8], count: Int) throws -> [Float] {
        var out = [Float](repeating: 0, count: count * 128)
        try Native.check { err in
            chips.withUnsafeBufferPointer { c in
                out.withUnsafeMutableBufferPointer { fk_dlib_resnet_compute(handle, c.baseAddress, Int32(count), $0.baseAddress, err) }
            }
        }
        return out
    }
}

/// dlib's ResNet, fed as deepface feeds it: 150x150 RGB bytes used as the
/// chip directly (no jitter, no re-alignment).
struct DlibRecognizer: FaceRecognizer {
    let info = RecognitionModels.dlib
    private let nets: Pool<DlibResNet>

    init(path: String, workers: Int) throws {
        nets = Pool(capacity: workers) { try DlibResNet(path: path) }
        try nets.warmUp()
    }

    func embed(_ faces: [[Float]]) throws -> [[Float]] {
        guard !faces.isEmpty else { return [] }
        let pixels = 150 * 150
        var chips = [UInt8](repeating: 0, count: faces.count * pixels * 3)
        for (i, hwc) in faces.enumerated() {
            let base = i * pixels * 3
            for p in 0..<pixels {
                chips[base + 3 * p] = truncatedByte(hwc[3 * p + 2])
                chips[base + 3 * p + 1] = truncatedByte(hwc[3 * p + 1])
                chips[base + 3 * p + 2] = truncatedByte(hwc[3 * p])
            }
        }
        let flat = try nets.with { try $0.compute(chips: chips, count: faces.count) }
        return (0..<faces.count).map { Array(flat[$0 * 128..<($0 + 1) * 128]) }
    }
}
