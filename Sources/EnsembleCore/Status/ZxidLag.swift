extension Zxid {
    /// Transactions of `leader`'s current epoch that this member has not applied yet. A new
    /// leader starts a new epoch at counter 0, so subtracting raw zxids across epochs measures
    /// nothing (a follower in sync with a fresh leader would look 2^32 behind).
    public func transactionsBehind(_ leader: Zxid) -> UInt64 {
        if epoch == leader.epoch { return leader.counter > counter ? UInt64(leader.counter - counter) : 0 }
        if epoch > leader.epoch { return 0 }
        return UInt64(leader.counter)
    }
}
