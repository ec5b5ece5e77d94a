import Foundation
import PostgresStore
import XCTest

/// The conninfo file is read only when it is ours alone; errors name it, never quote it.
final class ConnectionFileTests: XCTestCase {
    private var dir: String!
    private let secret = "host=/run/pg password=FileSekret456"

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "coven-connfile-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    private func write(_ name: String, _ text: String, mode: Int) throws -> String {
        let path = dir + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    func testMode0600IsReadAndTrimmed() throws {
        let path = try write("pg", secret + "\n \n", mode: 0o600)
        XCTAssertEqual(try PostgresConnection.readConnectionString(file: path), secret, "a 0600 file was not read or not trimmed")
    }

    func testMode0644IsRefusedWithoutItsContent() throws {
        let path = try write("pg", secret, mode: 0o644)
        XCTAssertThrowsError(try PostgresConnection.readConnectionString(file: path)) { error in
            XCTAssertEqual(error as? ConnectionFileError, .exposed(path: path, mode: 0o644), "a 0644 file was not refused as exposed")
            XCTAssertTrue("\(error)".contains(path), "the error does not name the file: \(error)")
            XCTAssertFalse("\(error)".contains("FileSekret456"), "the error quotes the file's content: \(error)")
        }
    }

    func testMissingFileIsNamed() throws {
        let path = dir + "/absent"
        XCTAssertThrowsError(try PostgresConnection.readConnectionString(file: path)) { error in
            XCTAssertEqual(error as? ConnectionFileError, .missing(path: path), "a missing file is not reported as missing")
            XCTAssertTrue("\(error)".contains(path), "the error does not name the missing file: \(error)")
        }
    }

    func testEmptyFileIsRefused() throws {
        let path = try write("pg", " \n", mode: 0o600)
        XCTAssertThrowsError(try PostgresConnection.readConnectionString(file: path)) { error in
            XCTAssertEqual(error as? ConnectionFileError, .empty(path: path), "a blank file was not refused as empty")
        }
    }

    func testDirectoryIsRefused() throws {
        let path = dir + "/sub"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        XCTAssertThrowsError(try PostgresConnection.readConnectionString(file: path)) { error in
            XCTAssertEqual(error as? ConnectionFileError, .notRegularFile(path: path), "a directory was not refused")
        }
    }

    func testFileOfAnotherUserIsRefused() throws {
        try XCTSkipUnless(getuid() == 0, "needs root to give the file away")
        let path = try write("pg", secret, mode: 0o600)
        XCTAssertEqual(chown(path, 65534, 65534), 0, "could not chown the file to nobody")
        XCTAssertThrowsError(try PostgresConnection.readConnectionString(file: path)) { error in
            XCTAssertEqual(error as? ConnectionFileError, .wrongOwner(path: path, owner: 65534, expected: 0),
                           "a file owned by someone else was not refused")
        }
    }
}
