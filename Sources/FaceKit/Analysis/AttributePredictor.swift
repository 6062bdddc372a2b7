import CFaceKitNative

/// One face as the attribute models see it: the aligned crop that
/// extraction made (shared by every model that takes the face as deepface
/// crops it), plus deepface's 224x224 fitted input, computed once when one of
/// deepface's models runs. Models trained on wider crops share one wider
/// crop per face, made the same way (see AttributeModel.cropExpansion).
struct AnalysisCrop: Sendable {
    let face: Image
    /// float32 BGR in [0, 1], HWC, 224x224: deepface's analyze input.
    let deepfaceInput: [Float]?

    static let deepfaceSide = 224
}

/// What a model says about one face, in deepface's label order.
enum AttributeScores: Sendable {
    /// Apparent age in years, before deepface's int().
    case age(Double)
    /// One probability per label of the action (deepface's order).
    case classes([Double])
}

/// A loaded attribute model. predict gets the faces of one image and runs
/// them as one batch where the network allows; one result per face.
protocol AttributePredictor: Sendable {
    var model: AttributeModel { get }
    func predict(_ crops: [AnalysisCrop]) throws -> [AttributeScores]
}

extension Image {
    /// Resized to width x height (bilinear, aspect not kept), gray or BGR bytes.
    func resizedBytes(width: Int, height: Int, gray: Bool) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: width * height * (gray ? 1 : 3))
        try Native.check { err in
            out.withUnsafeMutableBufferPointer {
                fk_image_resized_bytes(handle, Int32(width), Int32(height), gray ? 1 : 0, $0.baseAddress, $0.count, err)
            }
        }
        return out
    }
}

/// deepface's emotion input: gray of a float BGR image, resized (bilinear).
func grayResized(_ bgr: [Float], width: Int, height: Int, to side: Int) throws -> [Float] {
    precondition(bgr.count == width * height * 3)
    var out = [Float](repeating: 0, count: side * side)
    try Native.check { err in
        bgr.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer {
                fk_gray_resize_float(input.baseAddress, Int32(width), Int32(height), Int32(side), Int32(side), $0.baseAddress, err)
            }
        }
    }
    return out
}

/// Splits a batch's flat output into one row per face.
func rows(_ flat: [Float], count: Int, width: Int) -> [[Double]] {
    (0..<count).map { i in flat[(i * width)..<((i + 1) * width)].map(Double.init) }
}

extension Image {
    /// The face box grown by `percent` as deepface's expand_percentage grows
    /// it, clipped to the image, cropped and rotated on the eyes as
    /// extraction does (the black margin fills what lies outside the image).
    func expandedFaceCrop(_ area: FacialArea, percent: Int, align: Bool) throws -> Image {
        let ew = area.w + Int(Double(area.w) * Double(percent) / 100)
        let eh = area.h + Int(Double(area.h) * Double(percent) / 100)
        let x = max(0, area.x - (ew - area.w) / 2), y = max(0, area.y - (eh - area.h) / 2)
        let w = min(width - x, ew), h = min(height - y, eh)
        return try deepfaceCrop(x: x, y: y, w: w, h: h, align: align, leftEye: area.leftEye, rightEye: area.rightEye)
    }
}
