import ArgumentParser
import FaceKit
import FaceKitStore
import Foundation

struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove an identity (every face of it, under every model) or one face by id from the face store.")

    @Option(help: "Remove every face of this identity.")
    var identity: String?

    @Option(help: "Remove the face with this id (as register and search print it).")
    var id: Int64?

    @OptionGroup var storeFlags: StoreFlags

    func validate() throws {
        if (identity == nil) == (id == nil) { throw ValidationError("give exactly one of --identity NAME or --id ID") }
    }

    func run() throws {
        try Failure.run {
            let store = try storeFlags.open()
            if let identity {
                let removed = try store.delete(identity: identity)
                guard removed > 0 else { throw FaceKitError.invalidInput("no identity \(identity) in \(store.location)") }
                print("deleted \(identity): \(removed) face(s)")
            } else if let id {
                guard try store.delete(id: id) else { throw FaceKitError.invalidInput("no face with id \(id) in \(store.location)") }
                print("deleted face \(id)")
            }
        }
    }
}
