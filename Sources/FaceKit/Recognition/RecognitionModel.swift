/// What a recognition model is: its deepface name, the size of its input and
/// of its embedding, how it runs and the files it loads.
public struct RecognitionModelInfo: Sendable, Hashable {
    public let name: String
    public let dimensions: Int
    public let inputWidth: Int
    public let inputHeight: Int
    /// The files FaceKit loads by default, in load order.
    public let files: [ModelFile]
    public let summary: String
    public let runtime: Runtime
    /// Every published format of the weights, the default first (ONNX, then
    /// Keras .h5 for deepface's own models).
    public let formats: [ModelFile]
    /// deepface's forward L2-normalises this model's output (VGG-Face).
    public let normalizesOutput: Bool

    public enum Runtime: Sendable, Hashable {
        /// OpenCV Zoo's SFace, fed as deepface's SFace client feeds it.
        case sface
        /// dlib's ResNet.
        case dlib
        /// One of deepface's graphs: channels-last input, as its ONNX and
        /// TensorFlow clients take it.
        case deepfaceGraph
    }

    public init(name: String, dimensions: Int, inputWidth: Int, inputHeight: Int, files: [ModelFile], summary: String,
                runtime: Runtime, formats: [ModelFile]? = nil, normalizesOutput: Bool = false) {
        self.name = name
        self.dimensions = dimensions
        self.inputWidth = inputWidth
        self.inputHeight = inputHeight
        self.files = files
        self.summary = summary
        self.runtime = runtime
        self.formats = formats ?? files
        self.normalizesOutput = normalizesOutput
    }

    /// deepface's thresholds for this model, one per metric.
    public var thresholds: [DistanceMetric: Double] { Thresholds.table[name] ?? [:] }
}

/// The recognition models FaceKit runs, under deepface's names. The one
/// place that says which models exist.
///
/// Inputs follow deepface 0.0.103's represent: the face is fitted to the
/// model's size (scaled to fit, black padding, float BGR in [0, 1]), then
/// deepface's `normalization` argument applies (InputNormalization; "base",
/// deepface's default for every model, leaves it as it is), then the model's
/// own forward. Sizes are deepface's (`input_shape`, as width x height:
/// DeepID takes 47 wide by 55 high).
public enum RecognitionModels {
    public static let sface = RecognitionModelInfo(
        name: "SFace", dimensions: 128, inputWidth: 112, inputHeight: 112, files: [ModelRegistry.sface],
        summary: "SFace 2021dec (OpenCV Zoo), MobileFaceNet trained with SFace loss", runtime: .sface)
    public static let dlib = RecognitionModelInfo(
        name: "Dlib", dimensions: 128, inputWidth: 150, inputHeight: 150, files: [ModelRegistry.dlibResNet],
        summary: "dlib ResNet-29 metric network (99.38% on LFW)", runtime: .dlib)

    public static let vggFace = graph("VGG-Face", 4096, 224, 224, ModelRegistry.vggFaceONNX, ModelRegistry.vggFaceH5,
                                      "VGG-Face (Oxford VGG), 4096-d descriptor without the classifier", normalizesOutput: true)
    public static let facenet = graph("Facenet", 128, 160, 160, ModelRegistry.facenetONNX, ModelRegistry.facenetH5,
                                      "FaceNet, Inception-ResNet-v1 (David Sandberg's weights)")
    public static let facenet512 = graph("Facenet512", 512, 160, 160, ModelRegistry.facenet512ONNX, ModelRegistry.facenet512H5,
                                         "FaceNet, Inception-ResNet-v1, 512-d")
    public static let arcFace = graph("ArcFace", 512, 112, 112, ModelRegistry.arcFaceONNX, ModelRegistry.arcFaceH5,
                                      "ArcFace, ResNet-34 backbone")
    public static let ghostFaceNet = graph("GhostFaceNet", 512, 112, 112, ModelRegistry.ghostFaceNetONNX, ModelRegistry.ghostFaceNetH5,
                                           "GhostFaceNet W1.3 S1 (ArcFace loss)")
    public static let openFace = graph("OpenFace", 128, 96, 96, ModelRegistry.openFaceONNX, ModelRegistry.openFaceH5,
                                       "OpenFace nn4.small2.v1")
    public static let deepID = graph("DeepID", 160, 47, 55, ModelRegistry.deepIDONNX, ModelRegistry.deepIDH5,
                                     "DeepID (Sun et al. 2014)")

    static func graph(_ name: String, _ dimensions: Int, _ width: Int, _ height: Int, _ onnx: ModelFile, _ h5: ModelFile,
                      _ summary: String, normalizesOutput: Bool = false) -> RecognitionModelInfo {
        RecognitionModelInfo(name: name, dimensions: dimensions, inputWidth: width, inputHeight: height, files: [onnx],
                             summary: summary, runtime: .deepfaceGraph, formats: [onnx, h5], normalizesOutput: normalizesOutput)
    }

    public static let all: [RecognitionModelInfo] = [vggFace, facenet, facenet512, arcFace, sface, ghostFaceNet, openFace, deepID, dlib]

    public static func named(_ name: String) throws -> RecognitionModelInfo {
        if let info = all.first(where: { $0.name == name }) ?? all.first(where: { $0.name.lowercased() == name.lowercased() }) {
            return info
        }
        throw FaceKitError.unknownModel(name, known: all.map(\.name))
    }
}

/// deepface's `normalization` argument: what is done to the fitted [0, 1]
/// face before the model sees it (deepface's preprocessing.normalize_input).
public enum InputNormalization: String, Sendable, CaseIterable {
    case base, raw
    case facenet = "Facenet"
    case facenet2018 = "Facenet2018"
    case vggFace = "VGGFace"
    case vggFace2 = "VGGFace2"
    case arcFace = "ArcFace"

    public static func named(_ name: String) throws -> InputNormalization {
        if let n = InputNormalization(rawValue: name) ?? allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) {
            return n
        }
        throw FaceKitError.invalidInput("unknown normalization '\(name)'; known: \(allCases.map(\.rawValue).joined(separator: ", "))")
    }

    /// Applies it in place to one HWC BGR face, in float32 as deepface does.
    public func apply(_ face: inout [Float]) {
        if self == .base { return }
        for i in face.indices { face[i] *= 255 }
        switch self {
        case .base, .raw: break
        case .facenet:
            // numpy's float32 mean and std (pairwise sums; the double here
            // differs from them far below the 1e-4 tolerance).
            let n = Double(face.count)
            let mean = face.reduce(0.0) { $0 + Double($1) } / n
            let variance = face.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
            let std = max(Float(variance.squareRoot()), 1 / Float(n.squareRoot()))
            let m = Float(mean)
            for i in face.indices { face[i] = (face[i] - m) / std }
        case .facenet2018:
            for i in face.indices { face[i] = face[i] / 127.5 - 1 }
        case .vggFace: subtract(&face, 93.5940, 104.7624, 129.1863)
        case .vggFace2: subtract(&face, 91.4953, 103.8827, 131.0912)
        case .arcFace:
            for i in face.indices { face[i] = (face[i] - 127.5) / 128 }
        }
    }

    private func subtract(_ face: inout [Float], _ c0: Float, _ c1: Float, _ c2: Float) {
        var i = 0
        while i + 2 < face.count {
            face[i] -= c0
            face[i + 1] -= c1
            face[i + 2] -= c2
            i += 3
        }
    }
}

/// A loaded recognition model. Inputs are faces already fitted to the
/// model's size: float32 BGR, HWC, [0, 1] unless a normalization was asked
/// for, as deepface hands them over.
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
