import Foundation

/// One of deepface's graphs from its Keras .h5 file: the architecture is
/// described once in Swift (KerasArchitectures) and the weights are read
/// natively. It takes faces exactly as GraphRecognizer does (channels last,
/// fitted, normalised, BGR, as deepface's TensorFlow client feeds them) and
/// gives the same embedding.
struct KerasRecognizer: FaceRecognizer {
    let info: RecognitionModelInfo
    private let network: KerasNetwork

    init(info: RecognitionModelInfo, h5 path: String, workers: Int, plans: PlanCache? = nil) throws {
        self.info = info
        let architecture = try KerasArchitecture.named(info.name)
        let expected = [info.inputHeight, info.inputWidth, 3]
        guard architecture.inputShape == expected else {
            throw FaceKitError.modelLoadFailed(
                model: info.name,
                reason: "its Keras description takes \(architecture.inputShape), the model table says \(expected)")
        }
        do {
            network = try KerasNetwork(architecture: architecture, file: path, workers: workers, plans: plans)
        } catch let error as FaceKitError {
            // The Keras loader names the file, layer and weight; the user
            // asked for a model, so the error leads with it.
            if case .modelLoadFailed(let model, _) = error, model == info.name { throw error }
            throw FaceKitError.modelLoadFailed(model: info.name, reason: "\(error)")
        }
        // Another model's file with the same input can still load by
        // position; its output size gives it away before any face is embedded.
        guard network.model.floatsPerSample == info.dimensions else {
            throw FaceKitError.modelLoadFailed(
                model: info.name,
                reason: "\((path as NSString).lastPathComponent) outputs \(network.model.floatsPerSample) values per face, but \(info.name) gives \(info.dimensions): is it another model's file?")
        }
    }

    func embed(_ faces: [[Float]]) throws -> [[Float]] {
        guard !faces.isEmpty else { return [] }
        let out = try network.predict(faces.flatMap { $0 }, count: faces.count)
        return info.normalizesOutput ? out.map(GraphRecognizer.l2Normalized) : out
    }
}
