/// FaceKit's version; part of every pipeline signature.
public enum FaceKitVersion {
    public static let string = "0.1.0"
    public static var native: String { Native.versions }
}
