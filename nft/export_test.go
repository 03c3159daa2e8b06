package nft

// Exported for the external tests that compare the two canonicalization
// paths on fixtures from nfttest (which imports nft).
var (
	CanonicalizeFast = canonicalizeFast
	CanonicalizeTree = canonicalizeTree
	CanonicalViaJSON = canonicalViaJSON
	EncodeDirect     = encodeDirect
)
