import CFaceKitNative

/// How a detected face becomes the crop a recognition model sees.
public enum AlignmentMode: String, Sendable, CaseIterable, Codable {
    /// deepface's way: rotate on the eyes so they are level, crop the box,
    /// then fit (resize, pad) to the model's input. Gives deepface's decisions.
    case deepface
    /// A 5-point similarity transform onto the ArcFace/SFace template, the
    /// crop SFace and ArcFace-style models were trained on. Needs a detector
    /// with five landmarks (yunet, mtcnn); others fall back to deepface.
    case landmarks

    public static func named(_ name: String) throws -> AlignmentMode {
        guard let mode = AlignmentMode(rawValue: name.lowercased()) else {
            throw FaceKitError.unknownAlignment(name, known: allCases.map(\.rawValue))
        }
        return mode
    }
}

/// Options of the detection stage, with deepface's names and defaults.
public struct DetectionOptions: Sendable, Equatable {
    public var detector: DetectorBackend
    /// Rotate on the eyes (deepface's `align`).
    public var align: Bool
    /// Grow each box by this percentage (deepface's `expand_percentage`).
    public var expandPercentage: Int
    /// No face is an error; when false, the whole image is used instead.
    public var enforceDetection: Bool
    public var alignment: AlignmentMode
    /// Keep only the largest faces (deepface's `max_faces`).
    public var maxFaces: Int?
    /// What is done to each fitted face before a model sees it (deepface's
    /// `normalization`, applied after detection and fitting).
    public var normalization: InputNormalization

    public init(detector: DetectorBackend = .opencv, align: Bool = true, expandPercentage: Int = 0,
                enforceDetection: Bool = true, alignment: AlignmentMode = .deepface, maxFaces: Int? = nil,
                normalization: InputNormalization = .base) {
        self.normalization = normalization
        self.detector = detector
        self.align = align
        self.expandPercentage = expandPercentage
        self.enforceDetection = enforceDetection
        self.alignment = alignment
        self.maxFaces = maxFaces
    }
}

/// A face cut out of an image: the crop (BGR, 8-bit), where it was, and how
/// sure the detector was.
public struct ExtractedFace: Sendable {
    public let face: Image
    public let facialArea: FacialArea
    public let confidence: Double
    /// The landmarks at full precision in the original image, for the 5-point alignment.
    let fivePoints: [Point]?
}

/// A model input size a crop is fitted to: (width, height).
typealias FitSize = (width: Int, height: Int)

extension Image {
    /// deepface's extract_face crop (see fk_align_deepface). `fits`, when
    /// given: the crop will only be `fitted` to these sizes, so a rotated
    /// crop is computed only where those resizes read; it then refuses any
    /// other use.
    func deepfaceCrop(x: Int, y: Int, w: Int, h: Int, align: Bool, leftEye: Point?, rightEye: Point?,
                      fits: [FitSize]? = nil) throws -> Image {
        try deepfaceCrop(x: x, y: y, w: w, h: h, mode: align ? 1 : 0, leftEye: leftEye, rightEye: rightEye, fits: fits)
    }

    /// `deepfaceCrop` with the rotation run by warpAffine over the whole
    /// margin width, as before only the box's columns were computed; the
    /// tests compare the two.
    func deepfaceCropRotatingWholeWidth(x: Int, y: Int, w: Int, h: Int, leftEye: Point, rightEye: Point) throws -> Image {
        try deepfaceCrop(x: x, y: y, w: w, h: h, mode: 2, leftEye: leftEye, rightEye: rightEye)
    }

    private func deepfaceCrop(x: Int, y: Int, w: Int, h: Int, mode: Int32, leftEye: Point?, rightEye: Point?,
                              fits: [FitSize]? = nil) throws -> Image {
        let haveEyes = leftEye != nil && rightEye != nil
        let flat = fits.map { $0.flatMap { [Int32($0.width), Int32($0.height)] } }
        return Image(handle: try Native.make { out, err in
            func crop(_ sizes: UnsafePointer<Int32>?) -> fk_status {
                fk_align_deepface(handle, Int32(x), Int32(y), Int32(w), Int32(h), mode, haveEyes ? 1 : 0,
                                  Float(leftEye?.x ?? 0), Float(leftEye?.y ?? 0), Float(rightEye?.x ?? 0), Float(rightEye?.y ?? 0),
                                  sizes, Int32(fits?.count ?? 0), out, err)
            }
            guard let flat else { return crop(nil) }
            return flat.withUnsafeBufferPointer { crop($0.baseAddress) }  // no sizes: the whole crop
        })
    }

    /// The 5-point similarity crop, size x size. points: left eye, right eye,
    /// nose, mouth left, mouth right (the person's own sides).
    func landmarkCrop(points: [Point], size: Int) throws -> Image {
        precondition(points.count == 5)
        let flat = points.flatMap { [Float($0.x), Float($0.y)] }
        return Image(handle: try Native.make { out, err in
            flat.withUnsafeBufferPointer { fk_align_landmarks(handle, $0.baseAddress, Int32(size), out, err) }
        })
    }

    /// deepface's resize_image: fit into (width, height) keeping the aspect
    /// ratio, pad with black; float32 BGR in [0, 1], HWC.
    /// fromBytes: deepface's represent with detector "skip", which resizes
    /// the decoded bytes (everything else resizes [0, 1] floats).
    func fitted(width: Int, height: Int, fromBytes: Bool = false) throws -> [Float] {
        try fitted(width: width, height: height, mode: fromBytes ? 1 : 0)
    }

    /// `fitted` converting the whole crop to float64 first, as deepface
    /// does; `fitted` converts only the rows the resize reads and must give
    /// the same floats (the tests compare the two).
    func fittedConvertingWholeCrop(width: Int, height: Int) throws -> [Float] {
        try fitted(width: width, height: height, mode: 2)
    }

    private func fitted(width: Int, height: Int, mode: Int32) throws -> [Float] {
        var out = [Float](repeating: 0, count: width * height * 3)
        try Native.check { err in
            out.withUnsafeMutableBufferPointer { fk_preprocess_fit(handle, Int32(width), Int32(height), mode, $0.baseAddress, err) }
        }
        return out
    }
}
