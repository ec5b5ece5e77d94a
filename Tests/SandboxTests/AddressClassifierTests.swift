import XCTest
@testable import Sandbox

/// Every range the egress proxy refuses, its edges, and the IPv6 forms that embed IPv4.
final class AddressClassifierTests: XCTestCase {
    func cls(_ s: String, file: StaticString = #filePath, line: UInt = #line) -> AddressClass? {
        guard let ip = IPAddress(s) else { XCTFail("'\(s)' did not parse", file: file, line: line); return nil }
        return AddressClassifier.classify(ip)
    }

    func assertClass(_ expected: AddressClass, _ addresses: [String], file: StaticString = #filePath, line: UInt = #line) {
        for a in addresses {
            XCTAssertEqual(cls(a, file: file, line: line), expected, "\(a) should be \(expected.rawValue)", file: file, line: line)
        }
    }

    func testIPv4Loopback() { assertClass(.loopback, ["127.0.0.1", "127.255.255.254", "127.1.2.3"]) }
    func testIPv4Private() { assertClass(.private, ["10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255", "192.168.0.1", "192.168.255.255"]) }
    func testIPv4PrivateEdgesAreGlobal() { assertClass(.global, ["9.255.255.255", "11.0.0.0", "172.15.255.255", "172.32.0.0", "192.167.255.255", "192.169.0.0"]) }
    func testIPv4LinkLocalIncludingMetadata() { assertClass(.linkLocal, ["169.254.0.1", "169.254.169.254", "169.254.255.255"]) }
    func testIPv4CarrierGradeNAT() { assertClass(.sharedAddressSpace, ["100.64.0.0", "100.127.255.255"]) }
    func testIPv4CarrierGradeNATEdgesAreGlobal() { assertClass(.global, ["100.63.255.255", "100.128.0.0"]) }
    func testIPv4Multicast() { assertClass(.multicast, ["224.0.0.1", "239.255.255.255"]) }
    func testIPv4UnspecifiedAndThisNetwork() { assertClass(.unspecified, ["0.0.0.0", "0.1.2.3"]) }
    func testIPv4Broadcast() { assertClass(.broadcast, ["255.255.255.255"]) }
    func testIPv4Reserved() {
        assertClass(.reserved, ["240.0.0.1", "255.255.255.254", "192.0.2.1", "198.51.100.7", "203.0.113.9", "198.18.0.1", "192.0.0.8"])
    }
    func testIPv4Global() { assertClass(.global, ["140.82.112.3", "8.8.8.8", "1.1.1.1", "185.199.108.133"]) }

    func testIPv6LoopbackAndUnspecified() {
        assertClass(.loopback, ["::1"])
        assertClass(.unspecified, ["::"])
    }
    func testIPv6UniqueLocal() { assertClass(.uniqueLocal, ["fc00::1", "fd12:3456:789a::1", "fdff:ffff::"]) }
    func testIPv6LinkLocal() { assertClass(.linkLocal, ["fe80::1", "febf:ffff::1"]) }
    func testIPv6Multicast() { assertClass(.multicast, ["ff02::1", "ff0e::101"]) }
    func testIPv6OutsideGlobalUnicastIsReserved() { assertClass(.reserved, ["::2", "100::1", "4000::1", "2001:db8::1", "::127.0.0.1"]) }
    func testIPv6Global() { assertClass(.global, ["2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "2001:4860:4860::8888"]) }

    func testIPv4MappedIsJudgedAsIPv4() {
        assertClass(.loopback, ["::ffff:127.0.0.1"])
        assertClass(.linkLocal, ["::ffff:169.254.169.254", "::ffff:a9fe:a9fe"])
        assertClass(.private, ["::ffff:10.1.2.3", "::ffff:192.168.1.1"])
        assertClass(.global, ["::ffff:140.82.112.3"])
    }

    func testNAT64And6to4AreJudgedByTheEmbeddedIPv4() {
        assertClass(.loopback, ["64:ff9b::127.0.0.1", "2002:7f00:1::1"])
        assertClass(.linkLocal, ["64:ff9b::a9fe:a9fe"])
        assertClass(.global, ["64:ff9b::8c52:7003"])
    }

    func testHostsOwnAddressIsThisHost() {
        let mine = IPAddress("140.82.112.3")!
        XCTAssertEqual(AddressClassifier.classify(mine, localAddresses: [mine]), .thisHost)
        XCTAssertEqual(AddressClassifier.classify(IPAddress("::ffff:140.82.112.3")!, localAddresses: [mine]), .thisHost)
    }

    func testParsingIsStrict() {
        for bad in ["127.1", "0x7f.0.0.1", "017.0.0.1", "1.2.3.4.5", "fe80::1%eth0", "", "localhost", "::ffff:1.2.3"] {
            XCTAssertNil(IPAddress(bad), "'\(bad)' must not parse as an address")
        }
        XCTAssertEqual(IPAddress("[::1]"), IPAddress("::1"), "brackets are accepted")
        XCTAssertEqual(IPAddress("0:0:0:0:0:0:0:1")?.description, "::1", "printed canonically")
    }

    func testCIDRContainment() {
        let r = CIDR("10.20.0.0/16")!
        XCTAssertTrue(r.contains(IPAddress("10.20.255.1")!))
        XCTAssertFalse(r.contains(IPAddress("10.21.0.1")!))
        XCTAssertTrue(r.contains(IPAddress("::ffff:10.20.0.9")!), "IPv4-mapped addresses match IPv4 ranges")
        XCTAssertTrue(CIDR("127.0.0.1")!.contains(IPAddress("127.0.0.1")!), "a bare address is a /32")
        XCTAssertFalse(CIDR("127.0.0.1")!.contains(IPAddress("127.0.0.2")!))
        XCTAssertTrue(CIDR("fd00::/8")!.contains(IPAddress("fd12::1")!))
        XCTAssertFalse(CIDR("fd00::/8")!.contains(IPAddress("fc12::1")!))
        XCTAssertTrue(CIDR("0.0.0.0/0")!.contains(IPAddress("8.8.8.8")!))
        XCTAssertFalse(CIDR("0.0.0.0/0")!.contains(IPAddress("2001:4860::1")!), "families never mix")
        for bad in ["10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "fd00::/129", "10.0.0.0/8/8", "x/8"] {
            XCTAssertNil(CIDR(bad), "'\(bad)' must not parse as a CIDR")
        }
    }
}
