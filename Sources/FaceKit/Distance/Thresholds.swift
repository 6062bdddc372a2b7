/// deepface 0.0.103's decision thresholds: a pair is the same person when
/// its distance is at most the threshold of its model and metric. These are
/// deepface's published figures, so a deepface user gets the same decisions.
public enum Thresholds {
    static let table: [String: [DistanceMetric: Double]] = [
        "VGG-Face": [.cosine: 0.68, .euclidean: 1.17, .euclideanL2: 1.17, .angular: 0.39],
        "Facenet": [.cosine: 0.40, .euclidean: 10, .euclideanL2: 0.80, .angular: 0.33],
        "Facenet512": [.cosine: 0.30, .euclidean: 23.56, .euclideanL2: 1.04, .angular: 0.35],
        "ArcFace": [.cosine: 0.68, .euclidean: 4.15, .euclideanL2: 1.13, .angular: 0.39],
        "Dlib": [.cosine: 0.07, .euclidean: 0.6, .euclideanL2: 0.4, .angular: 0.12],
        "SFace": [.cosine: 0.593, .euclidean: 10.734, .euclideanL2: 1.055, .angular: 0.36],
        "OpenFace": [.cosine: 0.10, .euclidean: 0.55, .euclideanL2: 0.55, .angular: 0.11],
        "DeepFace": [.cosine: 0.23, .euclidean: 64, .euclideanL2: 0.64, .angular: 0.12],
        "DeepID": [.cosine: 0.015, .euclidean: 45, .euclideanL2: 0.17, .angular: 0.04],
        "GhostFaceNet": [.cosine: 0.65, .euclidean: 35.71, .euclideanL2: 1.10, .angular: 0.38],
        "Buffalo_L": [.cosine: 0.55, .euclidean: 0.6, .euclideanL2: 1.1, .angular: 0.45],
    ]

    /// The threshold deepface uses for this model and metric.
    public static func threshold(model: String, metric: DistanceMetric) throws -> Double {
        guard let row = table[model] else {
            throw FaceKitError.unknownModel(model, known: table.keys.sorted())
        }
        guard let value = row[metric] else {
            throw FaceKitError.unknownMetric(metric.rawValue, known: row.keys.map(\.rawValue).sorted())
        }
        return value
    }
}
