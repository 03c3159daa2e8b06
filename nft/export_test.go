package nft

// Exported for the external tests that compare the direct encoder with the
// reference encoding on fixtures from nfttest (which imports nft).
var (
	CanonicalViaJSON = canonicalViaJSON
	EncodeDirect     = encodeDirect
)
