/// The face detectors, under deepface's names.
public enum DetectorBackend: String, CaseIterable, Sendable, Codable {
    /// Haar frontal face plus the Haar eye cascade for alignment.
    case opencv
    /// OpenCV's res10 SSD (Caffe); eyes from the Haar eye cascade.
    case ssd
    /// YuNet 2023mar, 5 landmarks.
    case yunet
    /// dlib HOG plus the 5-point shape predictor.
    case dlib
    /// MTCNN (P-, R-, O-Net), 5 landmarks.
    case mtcnn
    /// No detection: the whole image is the face.
    case skip

    public static func named(_ name: String) throws -> DetectorBackend {
        guard let backend = DetectorBackend(rawValue: name.lowercased()) else {
            throw FaceKitError.unknownDetector(name, known: allCases.map(\.rawValue))
        }
        return backend
    }

    /// The files the detector loads; ssd also needs the eye cascade, because
    /// deepface finds the eyes of an SSD face with it.
    public var files: [ModelFile] {
        switch self {
        case .opencv: return [ModelRegistry.haarFace, ModelRegistry.haarEye]
        case .ssd: return [ModelRegistry.ssdConfig, ModelRegistry.ssdWeights, ModelRegistry.haarFace, ModelRegistry.haarEye]
        case .yunet: return [ModelRegistry.yunet]
        case .dlib: return [ModelRegistry.dlibShape5]
        case .mtcnn: return [ModelRegistry.mtcnnPNet, ModelRegistry.mtcnnRNet, ModelRegistry.mtcnnONet]
        case .skip: return []
        }
    }

    /// Whether every face it returns comes with both eyes; the others fall
    /// back to the Haar eye finder, as deepface does.
    var givesEyes: Bool { self == .yunet || self == .dlib || self == .mtcnn }

    /// Whether it finds eyes, nose and mouth corners, which the 5-point
    /// alignment needs.
    public var givesFiveLandmarks: Bool { self == .yunet || self == .mtcnn }
}
