/// ZooKeeper transaction ids: the leader's epoch in the high 32 bits, a counter within the
/// epoch in the low 32. A new leader starts a new epoch at counter 0, so subtracting zxids
/// across epochs measures nothing (a follower in sync with a fresh leader would look 2^32
/// behind).
public enum Zxid {
    public static func epoch(_ zxid: UInt64) -> UInt64 { zxid >> 32 }
    public static func counter(_ zxid: UInt64) -> UInt64 { zxid & 0xffff_ffff }

    /// Transactions of the leader's current epoch that the member has not applied yet.
    public static func lag(leader: UInt64, member: UInt64) -> UInt64 {
        switch (epoch(member), epoch(leader)) {
        case let (m, l) where m == l: return counter(leader) > counter(member) ? counter(leader) - counter(member) : 0
        case let (m, l) where m > l: return 0
        default: return counter(leader)
        }
    }
}
