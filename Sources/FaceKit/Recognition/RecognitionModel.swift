/// What a recognition model is: its deepface name, the size of its input and
/// of its embedding, and the files it loads.
public struct RecognitionModelInfo: Sendable, Hashable {
    public let name: String
    public let dimensions: Int
    public let inputWidth: Int
    public let inputHeight: Int
    public let files: [ModelFile]
    public let summary: String
}

/// The recognition models FaceKit runs, under deepface's names. The one
/// place that says which models exist.
public enum RecognitionModels {
    public static let sface = RecognitionModelInfo(
        name: "SFace", dimensions: 128, inputWidth: 112, inputHeight: 112, files: [ModelRegistry.sface],
        summary: "SFace 2021dec (OpenCV Zoo), MobileFaceNet trained with SFace loss")
    public static let dlib = RecognitionModelInfo(
        name: "Dlib", dimensions: 128, inputWidth: 150, inputHeight: 150, files: [ModelRegistry.dlibResNet],
        summary: "dlib ResNet-29 metric network (99.38% on LFW)")

    public static let all: [RecognitionModelInfo] = [sface, dlib]

    public static func named(_ name: String) throws -> RecognitionModelInfo {
        if let info = all.first(where: { $0.name == name }) ?? all.first(where: { $0.name.lowercased() == name.lowercased() }) {
            return info
        }
        throw FaceKitError.unknownModel(name, known: all.map(\.name))
    }
}

/// A loaded recognition model. Inputs are faces already fitted to the
/// model's size: float32 BGR in [0, 1], HWC, as deepface hands them over.
protocol FaceRecognizer: Sendable {
    var info: RecognitionModelInfo { get }
    func embed(_ faces: [[Float]]) throws -> [[Float]]
}

/// deepface's models cast [0, 1] floats back to bytes with a truncating
/// `(x * 255).astype(uint8)`, in float32; the same here, so that the bytes
/// (and the embeddings) are deepface's.
@inline(__always)
func truncatedByte(_ value: Float) -> UInt8 {
    let scaled = value * 255
    return scaled <= 0 ? 0 : scaled >= 255 ? 255 : UInt8(scaled)
}
