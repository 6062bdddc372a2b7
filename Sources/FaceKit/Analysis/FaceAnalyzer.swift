import Foundation

/// What to analyse and with which models.
public struct AnalysisOptions: Sendable {
    public var actions: [AttributeAction]
    public var detection: DetectionOptions
    /// An explicit model per action (by name); an action not listed takes
    /// deepface's model when its file is present, else the real alternative.
    public var models: [AttributeAction: String]

    public init(actions: [AttributeAction] = AttributeAction.deepfaceDefault, detection: DetectionOptions = .init(),
                models: [AttributeAction: String] = [:]) {
        self.actions = actions
        self.detection = detection
        self.models = models
    }
}

/// Which model answers each action, decided from the files present.
public struct AnalysisPlan: Sendable {
    public let models: [AttributeAction: AttributeModel]
    public let unavailable: [AttributeAction: String]
    /// The format chosen for each model, by action.
    let formats: [AttributeAction: AttributeModel.Format]
}

/// deepface's analyze: detect and align as extract_faces does, then run each
/// action's model on the faces of the image in one batch. Models load once
/// and are shared by every call; the detection stage is FaceEngine's.
public final class FaceAnalyzer: Sendable {
    public let engine: FaceEngine
    private let predictors = Locked<[String: any AttributePredictor]>([:])

    public init(engine: FaceEngine = FaceEngine()) {
        self.engine = engine
    }

    // MARK: planning

    /// Picks a model and a format for every action. An explicit choice whose
    /// files are missing is an error naming them; with no choice, deepface's
    /// model is used when present, else the real alternative. Race has no
    /// alternative: without its file it is reported unavailable, unless it is
    /// the only action asked for.
    public func plan(_ options: AnalysisOptions) throws -> AnalysisPlan {
        guard !options.actions.isEmpty else {
            throw FaceKitError.unknownAction("", known: AttributeAction.allCases.map(\.rawValue))
        }
        for (action, _) in options.models where !options.actions.contains(action) {
            throw FaceKitError.invalidInput("a \(action.rawValue) model was chosen but the \(action.rawValue) action is not asked for")
        }
        var models: [AttributeAction: AttributeModel] = [:]
        var formats: [AttributeAction: AttributeModel.Format] = [:]
        var unavailable: [AttributeAction: String] = [:]
        for action in options.actions {
            if let name = options.models[action] {
                let model = try AttributeModels.named(name, for: action)
                formats[action] = try presentFormat(model, required: true)!
                models[action] = model
                continue
            }
            let candidates = AttributeModels.candidates(for: action)
            if let model = candidates.first(where: { (try? presentFormat($0, required: false)) != nil }) {
                models[action] = model
                formats[action] = try presentFormat(model, required: true)!
                continue
            }
            // Nothing present: name the file to fetch. The last candidate is
            // the one with weights that reach this machine, when there is one.
            let fallback = candidates.last!
            let missing = missingError(fallback)
            if action == .race && options.actions.count > 1 {
                unavailable[action] = "no race model: \(missing.description) (deepface's race weights do not reach this machine; no alternative is registered)"
            } else {
                throw missing
            }
        }
        return AnalysisPlan(models: models, unavailable: unavailable, formats: formats)
    }

    private func presentFormat(_ model: AttributeModel, required: Bool) throws -> AttributeModel.Format? {
        if let format = model.formats.first(where: { $0.files.allSatisfy(engine.store.isPresent) }) { return format }
        if required { throw missingError(model) }
        return nil
    }

    private func missingError(_ model: AttributeModel) -> FaceKitError {
        let file = model.formats[0].files.first { !engine.store.isPresent($0) } ?? model.formats[0].files[0]
        return .modelFileMissing(model: "\(model.action.rawValue) model \(model.name)", file: engine.store.url(for: file).path,
                                 fetchCommand: "facekit models pull \(model.fetchName)")
    }

    // MARK: loading

    /// Models that run together: deepface's VGG-Face heads read from .h5
    /// (age, gender, race) share one network; every other model runs alone.
    struct Job {
        let models: [AttributeModel]
        let formats: [AttributeModel.Format]

        var key: String {
            zip(models, formats).map { "\($0.action.rawValue)/\($0.name)/\($1.files.map(\.fileName).joined(separator: "+"))" }
                .joined(separator: ",")
        }
    }

    static func jobs(_ plan: AnalysisPlan, actions: [AttributeAction]) -> [Job] {
        var jobs: [Job] = []
        var heads: [(AttributeModel, AttributeModel.Format)] = []
        var headsAt: Int?
        for action in actions {
            guard let model = plan.models[action], let format = plan.formats[action] else { continue }
            if format.engine == .deepfaceKeras && action != .emotion {
                if headsAt == nil { headsAt = jobs.count }
                heads.append((model, format))
            } else {
                jobs.append(Job(models: [model], formats: [format]))
            }
        }
        if let at = headsAt { jobs.insert(Job(models: heads.map(\.0), formats: heads.map(\.1)), at: at) }
        return jobs
    }

    private func predictor(_ job: Job) throws -> any AttributePredictor {
        try predictors.withLock { cache in
            if let loaded = cache[job.key] { return loaded }
            let paths = try zip(job.models, job.formats).map { model, format in
                try format.files.map { try engine.store.require($0, for: model.fetchName) }
            }
            let loaded: any AttributePredictor
            let model = job.models[0]
            switch job.formats[0].engine {
            case .leviHassner:
                loaded = try LeviHassnerPredictor(model: model, config: paths[0][0], weights: paths[0][1], copies: 1)
            case .deepfaceONNX:
                loaded = try DeepfaceDemographyPredictor(model: model, onnx: paths[0][0], cache: engine.graphCache, copies: 1,
                                                         plans: engine.plans)
            case .deepfaceKeras where model.action == .emotion:
                loaded = try DeepfaceDemographyPredictor(model: model, keras: paths[0][0], copies: 1, plans: engine.plans)
            case .deepfaceKeras:
                loaded = try DeepfaceVGGHeadsPredictor(models: job.models, paths: paths.map { $0[0] }, copies: 1,
                                                       profile: engine.profile, plans: engine.plans)
            case .fer:
                loaded = try FerEmotionPredictor(model: model, path: paths[0][0], copies: 1, plans: engine.plans)
            }
            cache[job.key] = loaded
            return loaded
        }
    }

    /// Plans and loads everything an analysis needs, so that errors and load
    /// time come before the first image.
    @discardableResult
    public func prepare(_ options: AnalysisOptions) throws -> AnalysisPlan {
        let plan = try plan(options)
        try engine.prepare(detector: options.detection.detector, models: [])
        for job in Self.jobs(plan, actions: options.actions) { _ = try predictor(job) }
        return plan
    }

    // MARK: analysis

    public func analyze(_ source: ImageSource, options: AnalysisOptions = .init()) throws -> ImageAnalysis {
        try analyze(source, options: options, plan: try prepare(options)).analysis
    }

    /// Decodes and analyses one image; also returns the decoded image (for
    /// drawing on it). plan from `prepare` (or `plan`) for the same options.
    public func analyze(_ source: ImageSource, options: AnalysisOptions, plan: AnalysisPlan) throws -> (image: Image, analysis: ImageAnalysis) {
        let clock = StageClock(enabled: engine.profile)
        let image = try engine.loadImage(source)
        clock.lap("decode")
        return (image, try run(image: image, source: source.name, options: options, plan: plan, clock: clock))
    }

    /// Analyses a decoded image; plan from `prepare` (or `plan`) for the same options.
    public func analyze(image: Image, source: String, options: AnalysisOptions, plan: AnalysisPlan) throws -> ImageAnalysis {
        try run(image: image, source: source, options: options, plan: plan, clock: StageClock(enabled: engine.profile))
    }

    private func run(image: Image, source: String, options: AnalysisOptions, plan: AnalysisPlan, clock: StageClock) throws -> ImageAnalysis {
        let extracted = try engine.extractFaces(from: image, source: source, options: options.detection)
            .filter { !$0.face.isEmpty }
        clock.lap("detect+align")
        let needsDeepfaceInput = plan.models.values.contains { $0.isDeepface }
        let side = AnalysisCrop.deepfaceSide
        // One crop per face and per crop width the chosen models want.
        var crops: [Int: [AnalysisCrop]] = [:]
        for expansion in Set(plan.models.values.map(\.cropExpansion)) {
            crops[expansion] = try extracted.map { face in
                if expansion == 0 {
                    return AnalysisCrop(face: face.face,
                                        deepfaceInput: needsDeepfaceInput ? try face.face.fitted(width: side, height: side) : nil)
                }
                let wider = try image.expandedFaceCrop(face.facialArea, percent: expansion, align: options.detection.align)
                return AnalysisCrop(face: wider, deepfaceInput: nil)
            }
        }
        clock.lap("crop")

        var faces = extracted.map { face in
            FaceAnalysis(region: face.facialArea, faceConfidence: face.confidence,
                         models: Dictionary(uniqueKeysWithValues: plan.models.map { ($0.key.rawValue, $0.value.name) }),
                         unavailable: plan.unavailable.isEmpty ? nil
                             : Dictionary(uniqueKeysWithValues: plan.unavailable.map { ($0.key.rawValue, $0.value) }))
        }
        for job in Self.jobs(plan, actions: options.actions) {
            let predictor = try predictor(job)
            let results = try predictor.predict(crops[job.models[0].cropExpansion] ?? [])
            for (model, scores) in zip(job.models, results) {
                guard scores.count == faces.count else {
                    throw FaceKitError.inferenceFailed("\(model.name) returned \(scores.count) results for \(faces.count) faces")
                }
                for (i, score) in scores.enumerated() { try Self.record(score, action: model.action, model: model, into: &faces[i]) }
            }
            clock.lap(job.models.map(\.action.rawValue).joined(separator: "+"))
        }
        clock.report(source)
        return ImageAnalysis(source: source, faces: faces, models: plan.models, unavailable: plan.unavailable)
    }

    /// deepface's post-processing: age as int(); gender as 100 x p (deepface's
    /// model already sums to one); race and emotion as shares of their sum.
    static func record(_ score: AttributeScores, action: AttributeAction, model: AttributeModel, into face: inout FaceAnalysis) throws {
        switch (action, score) {
        case (.age, .age(let years)):
            guard years.isFinite else { throw FaceKitError.inferenceFailed("\(model.name) gave a non-finite age") }
            face.age = Int(years)
        case (.gender, .classes(let p)), (.race, .classes(let p)), (.emotion, .classes(let p)):
            let labels = action.labels
            guard p.count == labels.count, p.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
                throw FaceKitError.inferenceFailed("\(model.name) gave \(p.count) scores for \(labels.count) \(action.rawValue) classes")
            }
            let total = action == .gender && model.isDeepface ? 1 : p.reduce(0, +)
            guard total > 0 else { throw FaceKitError.inferenceFailed("\(model.name) gave all-zero \(action.rawValue) scores") }
            let percent = Dictionary(uniqueKeysWithValues: zip(labels, p.map { 100 * $0 / total }))
            // np.argmax: the first of equal maxima.
            let best = p.indices.max { p[$0] < p[$1] || (p[$0] == p[$1] && $0 > $1) }!
            switch action {
            case .gender: face.gender = percent; face.dominantGender = labels[best]
            case .race: face.race = percent; face.dominantRace = labels[best]
            default: face.emotion = percent; face.dominantEmotion = labels[best]
            }
        default:
            throw FaceKitError.inferenceFailed("\(model.name) gave the wrong kind of result for \(action.rawValue)")
        }
    }
}
