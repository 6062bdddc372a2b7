import FaceKit
import Foundation
import HTTPTypes
import Hummingbird

/// Every failure the service answers with: a status and a message, sent as
/// `{"error": message}` (deepface's key for failed calls).
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: HTTPResponse.Status
    public let message: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status.code) \(message)" }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, message) }

    /// The one place that decides which status a library failure becomes.
    /// A request naming something that does not exist is the client's to fix
    /// (400); an image that was understood but cannot be used, such as one
    /// with no face, is 422; a model missing on this machine is the operator's
    /// to fix, and says how.
    public init(_ error: FaceKitError) {
        switch error.category {
        case .usage: self.init(.badRequest, error.description)
        case .input: self.init(.unprocessableContent, error.description)
        case .notFound: self.init(.badRequest, error.description)
        case .environment: self.init(.internalServerError, "the server is missing model files: \(error.description)")
        case .processing: self.init(.internalServerError, error.description)
        }
    }

    init(_ refusal: WorkQueue.Refusal) {
        switch refusal {
        case .full(let queued):
            self.init(.serviceUnavailable, "the server is busy: every worker is running and \(queued) requests are waiting; retry later",
                      headers: [.retryAfter: "1"])
        case .timedOut(let seconds):
            self.init(.gatewayTimeout, "the request did not finish within \(Self.format(seconds)) s")
        case .stopped:
            self.init(.serviceUnavailable, "the server is shutting down", headers: [.retryAfter: "5"])
        }
    }

    /// Any error a handler or Hummingbird throws, as the service's JSON error.
    static func from(_ error: any Error) -> APIError {
        switch error {
        case let e as APIError: return e
        case let e as FaceKitError: return APIError(e)
        case let e as WorkQueue.Refusal: return APIError(e)
        case is CancellationError:
            // nginx's 499: the client went away; not a server fault in the metrics.
            return APIError(HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request"), "the client closed the request")
        case let e as HTTPError: return APIError(e.status, e.body ?? e.status.reasonPhrase, headers: e.headers)
        case let e as any HTTPResponseError:
            // Hummingbird's own, e.g. a body above the collect limit (413).
            return APIError(e.status, e.status == .contentTooLarge ? "the request body is too large" : e.status.reasonPhrase)
        default: return APIError(.internalServerError, "internal error: \(error)")
        }
    }

    func response() -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        let body = (try? JSONEncoder.api.encode(["error": message])) ?? Data(#"{"error":"internal error"}"#.utf8)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    private static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}

extension JSONEncoder {
    /// Sorted keys make responses diffable; slashes unescaped keep paths readable.
    static var api: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
