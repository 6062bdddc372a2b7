/// The one error type of FaceKit. Every failure a caller can cause or meet
/// (bad input, missing model, no face) is a case here, with a message that
/// says what happened and what to do about it.
public enum FaceKitError: Error, Equatable, Sendable {
    case imageNotFound(path: String)
    case imageUnreadable(source: String, reason: String)
    case imageTooLarge(source: String, width: Int, height: Int, limit: Int)
    case invalidInput(String)
    case noFaceDetected(source: String)
    case unknownModel(String, known: [String])
    case unknownDetector(String, known: [String])
    case unknownMetric(String, known: [String])
    case unknownAlignment(String, known: [String])
    case unknownAction(String, known: [String])
    case modelFileMissing(model: String, file: String, fetchCommand: String)
    case modelFileInvalid(file: String, reason: String)
    case modelLoadFailed(model: String, reason: String)
    case inferenceFailed(String)
    case fetchFailed(file: String, reason: String)
    case io(String)
    /// A face store (SQLite or another database) failed or holds data this
    /// version cannot use.
    case store(String)

    /// What kind of failure this is; the CLI maps it to an exit code and the
    /// server to an HTTP status.
    public enum Category: Sendable {
        case usage       // the request names something that does not exist
        case input       // the data given cannot be used
        case notFound    // a named file is not there
        case environment // models missing or broken on this machine
        case processing  // something failed while running
    }

    public var category: Category {
        switch self {
        case .unknownModel, .unknownDetector, .unknownMetric, .unknownAlignment, .unknownAction: return .usage
        case .imageUnreadable, .imageTooLarge, .invalidInput, .noFaceDetected: return .input
        case .imageNotFound: return .notFound
        case .modelFileMissing, .modelFileInvalid, .modelLoadFailed, .fetchFailed: return .environment
        case .inferenceFailed, .io, .store: return .processing
        }
    }
}

extension FaceKitError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .imageNotFound(let path):
            return "image not found: \(path)"
        case .imageUnreadable(let source, let reason):
            return "cannot read image \(source): \(reason)"
        case .imageTooLarge(let source, let width, let height, let limit):
            return "image \(source) is \(width)x\(height) = \(width * height) pixels, above the limit of \(limit) pixels (set FACEKIT_MAX_PIXELS or --max-pixels to raise it)"
        case .invalidInput(let message):
            return message
        case .noFaceDetected(let source):
            return "no face detected in \(source); try another detector, or --no-enforce-detection to use the whole image"
        case .unknownModel(let name, let known):
            return "unknown model '\(name)'; known models: \(known.joined(separator: ", "))"
        case .unknownDetector(let name, let known):
            return "unknown detector '\(name)'; known detectors: \(known.joined(separator: ", "))"
        case .unknownMetric(let name, let known):
            return "unknown distance metric '\(name)'; known metrics: \(known.joined(separator: ", "))"
        case .unknownAlignment(let name, let known):
            return "unknown alignment '\(name)'; known: \(known.joined(separator: ", "))"
        case .unknownAction(let name, let known):
            return "unknown action '\(name)'; known actions: \(known.joined(separator: ", "))"
        case .modelFileMissing(let model, let file, let command):
            return "model file \(file) for \(model) is missing; fetch it with: \(command)"
        case .modelFileInvalid(let file, let reason):
            return "model file \(file) is invalid: \(reason)"
        case .modelLoadFailed(let model, let reason):
            return "cannot load \(model): \(reason)"
        case .inferenceFailed(let message):
            return "inference failed: \(message)"
        case .fetchFailed(let file, let reason):
            return "cannot fetch \(file): \(reason)"
        case .io(let message):
            return message
        case .store(let message):
            return "face store: \(message)"
        }
    }
}

extension FaceKitError: LocalizedError {
    public var errorDescription: String? { description }
}

import Foundation
