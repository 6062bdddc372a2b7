/// A pixel position in the original image.
public struct Point: Sendable, Equatable, Hashable, Codable {
    public var x: Double
    public var y: Double
    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }
}

/// deepface's facial_area: the box and the landmarks the detector found, in
/// the coordinates of the image as given. left and right are the person's own.
public struct FacialArea: Sendable, Equatable, Codable {
    public var x: Int
    public var y: Int
    public var w: Int
    public var h: Int
    public var leftEye: Point?
    public var rightEye: Point?
    public var nose: Point?
    public var mouthLeft: Point?
    public var mouthRight: Point?

    public init(x: Int, y: Int, w: Int, h: Int, leftEye: Point? = nil, rightEye: Point? = nil,
                nose: Point? = nil, mouthLeft: Point? = nil, mouthRight: Point? = nil) {
        self.x = x
        self.y = y
        self.w = w
        self.h = h
        self.leftEye = leftEye
        self.rightEye = rightEye
        self.nose = nose
        self.mouthLeft = mouthLeft
        self.mouthRight = mouthRight
    }

    /// All five landmarks, when the detector gave them (needed by the
    /// 5-point similarity alignment).
    public var fivePoints: [Point]? {
        guard let le = leftEye, let re = rightEye, let n = nose, let ml = mouthLeft, let mr = mouthRight else {
            return nil
        }
        return [le, re, n, ml, mr]
    }
}

extension FacialArea {
    enum CodingKeys: String, CodingKey {
        case x, y, w, h
        case leftEye = "left_eye", rightEye = "right_eye", nose
        case mouthLeft = "mouth_left", mouthRight = "mouth_right"
    }

    // deepface writes landmarks as [x, y] pairs and null for a missing eye.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(x, forKey: .x)
        try c.encode(y, forKey: .y)
        try c.encode(w, forKey: .w)
        try c.encode(h, forKey: .h)
        try c.encode(leftEye.map { [$0.x, $0.y] }, forKey: .leftEye)
        try c.encode(rightEye.map { [$0.x, $0.y] }, forKey: .rightEye)
        try c.encodeIfPresent(nose.map { [$0.x, $0.y] }, forKey: .nose)
        try c.encodeIfPresent(mouthLeft.map { [$0.x, $0.y] }, forKey: .mouthLeft)
        try c.encodeIfPresent(mouthRight.map { [$0.x, $0.y] }, forKey: .mouthRight)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func point(_ key: CodingKeys) throws -> Point? {
            guard let pair = try c.decodeIfPresent([Double].self, forKey: key), pair.count == 2 else { return nil }
            return Point(x: pair[0], y: pair[1])
        }
        self.init(x: try c.decode(Int.self, forKey: .x), y: try c.decode(Int.self, forKey: .y),
                  w: try c.decode(Int.self, forKey: .w), h: try c.decode(Int.self, forKey: .h),
                  leftEye: try point(.leftEye), rightEye: try point(.rightEye), nose: try point(.nose),
                  mouthLeft: try point(.mouthLeft), mouthRight: try point(.mouthRight))
    }
}
