/// deepface's analyze actions, and the labels each one reports, in
/// deepface's order (the order of its models' outputs).
public enum AttributeAction: String, CaseIterable, Sendable, Codable, Hashable {
    case age, gender, race, emotion

    /// deepface's default order of actions.
    public static let deepfaceDefault: [AttributeAction] = [.emotion, .age, .gender, .race]

    public static let emotionLabels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    public static let genderLabels = ["Woman", "Man"]
    public static let raceLabels = ["asian", "indian", "black", "white", "middle eastern", "latino hispanic"]

    /// The classes of a classifying action; age has none (it is a number).
    public var labels: [String] {
        switch self {
        case .age: return []
        case .gender: return Self.genderLabels
        case .race: return Self.raceLabels
        case .emotion: return Self.emotionLabels
        }
    }

    public static func named(_ name: String) throws -> AttributeAction {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        guard let action = AttributeAction(rawValue: trimmed.lowercased()) else {
            throw FaceKitError.unknownAction(name, known: allCases.map(\.rawValue))
        }
        return action
    }

    /// A comma-separated list ("age,gender"), each action once, in the order given.
    public static func parse(_ list: String) throws -> [AttributeAction] {
        var seen = Set<AttributeAction>()
        let actions = try list.split(separator: ",", omittingEmptySubsequences: false).map { try named(String($0)) }
            .filter { seen.insert($0).inserted }
        guard !actions.isEmpty else { throw FaceKitError.unknownAction(list, known: allCases.map(\.rawValue)) }
        return actions
    }
}

import Foundation
