import Foundation

/// deepface's distance metrics. Each is computed in double precision and
/// rounded to six decimals, as deepface rounds them.
public enum DistanceMetric: String, CaseIterable, Sendable, Codable, Hashable {
    /// 1 - cos(a, b)
    case cosine
    /// |a - b|
    case euclidean
    /// |a/|a| - b/|b||
    case euclideanL2 = "euclidean_l2"
    /// arccos(cos(a, b)) / pi, in 0...1
    case angular

    public static func named(_ name: String) throws -> DistanceMetric {
        guard let metric = DistanceMetric(rawValue: name.lowercased()) else {
            throw FaceKitError.unknownMetric(name, known: allCases.map(\.rawValue))
        }
        return metric
    }

    public func distance(_ a: [Float], _ b: [Float]) throws -> Double {
        guard a.count == b.count, !a.isEmpty else {
            throw FaceKitError.invalidInput("embeddings of different sizes (\(a.count) and \(b.count)) cannot be compared")
        }
        let value: Double
        switch self {
        case .cosine:
            value = 1 - Self.cosineSimilarity(a, b)
        case .angular:
            value = acos(min(1, max(-1, Self.cosineSimilarity(a, b)))) / Double.pi
        case .euclidean:
            value = Self.euclidean(a, b, scaleA: 1, scaleB: 1)
        case .euclideanL2:
            // deepface divides by (norm + 1e-10) before subtracting.
            value = Self.euclidean(a, b, scaleA: 1 / (Self.norm(a) + 1e-10), scaleB: 1 / (Self.norm(b) + 1e-10))
        }
        return Self.round6(value)
    }

    /// A similarity in which higher means more alike, next to each distance:
    /// the cosine similarity for cosine and euclidean_l2 (they are the same
    /// ordering), 1 - d for angular, and 1 / (1 + d) for raw euclidean.
    public func similarity(distance d: Double) -> Double {
        switch self {
        case .cosine: return Self.round6(1 - d)
        case .euclideanL2: return Self.round6(1 - d * d / 2)
        case .angular: return Self.round6(1 - d)
        case .euclidean: return Self.round6(1 / (1 + d))
        }
    }

    static func round6(_ x: Double) -> Double { (x * 1e6).rounded(.toNearestOrEven) / 1e6 }

    static func norm(_ a: [Float]) -> Double {
        var s = 0.0
        for v in a { s += Double(v) * Double(v) }
        return s.squareRoot()
    }

    static func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        for i in a.indices {
            let x = Double(a[i]), y = Double(b[i])
            dot += x * y
            na += x * x
            nb += y * y
        }
        return dot / (na.squareRoot() * nb.squareRoot())
    }

    static func euclidean(_ a: [Float], _ b: [Float], scaleA: Double, scaleB: Double) -> Double {
        var s = 0.0
        for i in a.indices {
            let d = Double(a[i]) * scaleA - Double(b[i]) * scaleB
            s += d * d
        }
        return s.squareRoot()
    }
}
