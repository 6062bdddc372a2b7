import CFaceKitNative

/// deepface's extract_faces, step for step: pad the image by half its size
/// when aligning (so rotation never cuts the face), detect, expand, fill in
/// missing eyes with the Haar eye finder, crop and rotate, then map the boxes
/// back to the original image with deepface's clipping.
struct FaceExtraction {
    let detector: Pool<FaceDetector>?
    /// The Haar detector, for eyes of detectors that give none (deepface's fallback).
    let eyeFinder: () throws -> Pool<FaceDetector>

    /// fits: the model input sizes the crops will only be fitted to, when
    /// that is all they are for (see Image.deepfaceCrop).
    func extract(_ image: Image, source: String, options: DetectionOptions, fits: [FitSize]? = nil) throws -> [ExtractedFace] {
        let width = image.width, height = image.height
        let wholeImage = { () throws -> [ExtractedFace] in
            [ExtractedFace(face: try image.copy(), facialArea: FacialArea(x: 0, y: 0, w: width, h: height),
                           confidence: 0, fivePoints: nil)]
        }
        guard let detector, options.detector != .skip else { return try wholeImage() }

        let hb = options.align ? Int(0.5 * Double(height)) : 0
        let wb = options.align ? Int(0.5 * Double(width)) : 0
        let work = options.align ? try image.padded(top: hb, bottom: hb, left: wb, right: wb) : image
        var detections = try detector.with { try $0.detect(work) }
        if let maxFaces = options.maxFaces, maxFaces < detections.count {
            detections = Array(detections.enumerated().sorted {
                ($0.element.w * $0.element.h, -$0.offset) > ($1.element.w * $1.element.h, -$1.offset)
            }.prefix(maxFaces).map(\.element))
        }

        var faces: [ExtractedFace] = []
        for detection in detections {
            if let face = try extractFace(detection, from: work, borders: (wb, hb), original: (width, height), options: options,
                                          fits: fits) {
                faces.append(face)
            }
        }
        if faces.isEmpty {
            if options.enforceDetection { throw FaceKitError.noFaceDetected(source: source) }
            return try wholeImage()
        }
        return faces
    }

    private func extractFace(_ d: RawDetection, from work: Image, borders: (w: Int, h: Int), original: (w: Int, h: Int),
                             options: DetectionOptions, fits: [FitSize]?) throws -> ExtractedFace? {
        var x = Int(d.x), y = Int(d.y), w = Int(d.w), h = Int(d.h)
        var leftEye = d.landmarks[Int(FK_LM_LEFT_EYE)]
        var rightEye = d.landmarks[Int(FK_LM_RIGHT_EYE)]
        let expand = max(0, options.expandPercentage)
        if expand > 0 {
            let ew = w + Int(Double(w) * Double(expand) / 100), eh = h + Int(Double(h) * Double(expand) / 100)
            x = max(0, x - Int(Double(ew - w) / 2))
            y = max(0, y - Int(Double(eh - h) / 2))
            w = min(work.width - x, ew)
            h = min(work.height - y, eh)
        }
        w = max(0, min(work.width, x + w) - max(0, x))
        h = max(0, min(work.height, y + h) - max(0, y))
        x = max(0, x)
        y = max(0, y)

        if options.detector != .opencv, leftEye == nil || rightEye == nil,
           let eyes = try eyeFinder().with({ try $0.findEyes(work, x: x, y: y, w: w, h: h) }) {
            if leftEye == nil { leftEye = Point(x: Double(Int(eyes.left.x) + x), y: Double(Int(eyes.left.y) + y)) }
            if rightEye == nil { rightEye = Point(x: Double(Int(eyes.right.x) + x), y: Double(Int(eyes.right.y) + y)) }
        }

        let shift = { (p: Point?) -> Point? in p.map { Point(x: $0.x - Double(borders.w), y: $0.y - Double(borders.h)) } }
        // All five landmarks in original-image coordinates, for the 5-point
        // alignment, which crops from the original image per model size.
        var five: [Point]?
        if let n = d.landmarks[Int(FK_LM_NOSE)], let ml = d.landmarks[Int(FK_LM_MOUTH_LEFT)],
           let mr = d.landmarks[Int(FK_LM_MOUTH_RIGHT)], let le = leftEye, let re = rightEye {
            five = [le, re, n, ml, mr].compactMap(shift)
        }

        let face = try work.deepfaceCrop(x: x, y: y, w: w, h: h, align: options.align, leftEye: leftEye, rightEye: rightEye,
                                         fits: fits)
        guard !face.isEmpty else { return nil }

        if options.align {
            x -= borders.w
            y -= borders.h
            leftEye = shift(leftEye)
            rightEye = shift(rightEye)
        }
        // extract_faces' final clipping, including its "- 1".
        let fx = max(0, x), fy = max(0, y)
        let fw = min(original.w - fx - 1, w), fh = min(original.h - fy - 1, h)
        let valid = { (p: Point?) -> Point? in
            guard let p else { return nil }
            let q = Point(x: Double(Int(p.x)), y: Double(Int(p.y)))
            return q.x >= 0 && q.x < Double(original.w) && q.y >= 0 && q.y < Double(original.h) ? q : nil
        }
        let noseP = shift(d.landmarks[Int(FK_LM_NOSE)])
        let mlP = shift(d.landmarks[Int(FK_LM_MOUTH_LEFT)])
        let mrP = shift(d.landmarks[Int(FK_LM_MOUTH_RIGHT)])
        let area = FacialArea(x: fx, y: fy, w: fw, h: fh, leftEye: valid(leftEye), rightEye: valid(rightEye),
                              nose: valid(noseP), mouthLeft: valid(mlP), mouthRight: valid(mrP))
        let confidence = (d.confidence * 100).rounded() / 100
        return ExtractedFace(face: face, facialArea: area, confidence: confidence, fivePoints: five)
    }
}
