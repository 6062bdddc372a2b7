/// One face's analysis in deepface's analyze shape: region, face_confidence,
/// and for each action asked its values (percentages) and dominant label.
/// Two keys deepface does not have say where the values come from:
/// `models` (the model behind each action) and `unavailable` (actions asked
/// for that no model could answer, with the reason).
public struct FaceAnalysis: Sendable, Codable, Equatable {
    public var region: FacialArea
    public var faceConfidence: Double
    public var age: Int?
    public var gender: [String: Double]?
    public var dominantGender: String?
    public var race: [String: Double]?
    public var dominantRace: String?
    public var emotion: [String: Double]?
    public var dominantEmotion: String?
    /// Action -> model name (deepface, age_net, gender_net, ...).
    public var models: [String: String]
    /// Action -> why it has no value.
    public var unavailable: [String: String]?

    enum CodingKeys: String, CodingKey {
        case region
        case faceConfidence = "face_confidence"
        case age, gender
        case dominantGender = "dominant_gender"
        case race
        case dominantRace = "dominant_race"
        case emotion
        case dominantEmotion = "dominant_emotion"
        case models, unavailable
    }

    /// The probabilities of a classifying action, nil for age.
    public func scores(_ action: AttributeAction) -> [String: Double]? {
        switch action {
        case .age: return nil
        case .gender: return gender
        case .race: return race
        case .emotion: return emotion
        }
    }

    public func dominant(_ action: AttributeAction) -> String? {
        switch action {
        case .age: return age.map(String.init)
        case .gender: return dominantGender
        case .race: return dominantRace
        case .emotion: return dominantEmotion
        }
    }
}

/// The analysis of one image: one entry per face, in detection order.
public struct ImageAnalysis: Sendable {
    public let source: String
    public let faces: [FaceAnalysis]
    /// Action -> model used, for the whole image.
    public let models: [AttributeAction: AttributeModel]
    /// Actions asked for but not answered, with the reason (e.g. race with
    /// no weights on this machine).
    public let unavailable: [AttributeAction: String]
}
