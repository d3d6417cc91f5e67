package datahub

// SetAfterCommit installs a hook that runs between a document's commit and its dequeue, so a
// test can crash there.
func SetAfterCommit(d *Driver, f func(messageID string) error) { d.afterCommit = f }
