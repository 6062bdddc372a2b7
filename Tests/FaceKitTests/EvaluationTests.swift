import FaceKit
import Foundation
import XCTest

final class EvaluationTests: XCTestCase {
    func write(_ text: String) throws -> URL {
        let url = Fixtures.temporaryDirectory.appendingPathComponent("pairs.csv")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func testReadsMasterCSVFormatInAnyColumnOrder() throws {
        let url = try write("Decision,file_y,file_x\nYes,b.jpg,a.jpg\nno,d.jpg,c.jpg\n")
        XCTAssertEqual(try LabelledPair.read(csv: url), [
            LabelledPair(first: "a.jpg", second: "b.jpg", same: true),
            LabelledPair(first: "c.jpg", second: "d.jpg", same: false),
        ])
    }

    func testBadCSVIsAClearError() throws {
        XCTAssertThrowsError(try LabelledPair.read(csv: try write("x,y\n1,2\n"))) { error in
            XCTAssertTrue("\(error)".contains("file_x"), "\(error)")
        }
        XCTAssertThrowsError(try LabelledPair.read(csv: try write("file_x,file_y,Decision\na.jpg,b.jpg,Maybe\n"))) { error in
            XCTAssertTrue("\(error)".contains("line 2"), "\(error)")
        }
        XCTAssertThrowsError(try LabelledPair.read(csv: URL(fileURLWithPath: "/no/such.csv")))
    }

    func testDatasetCSVHas300Pairs() throws {
        let pairs = try LabelledPair.read(csv: Fixtures.dataset.appendingPathComponent("master.csv"))
        XCTAssertEqual(pairs.count, 300)
        XCTAssertEqual(pairs.filter(\.same).count, 38)
    }
}
