package nft_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/srellama/srellama/nft"
	"github.com/srellama/srellama/nft/nfttest"
)

// goldenFixtures are the nfttest fixtures whose token IDs, content digests
// and stored encodings were recorded before the canonical encoder changed.
// A token ID is a ledger key and a content digest is signed into history:
// neither may move when the encoder's implementation does.
func goldenFixtures() map[string]nft.Token {
	plain := nfttest.Definition("amf", "Org1MSP")
	round := nfttest.FromRound(nfttest.Definition("smf", "Org2MSP"), "round-7", nft.DigestBytes([]byte("model")), "request-3", "Org1MSP", "Org2MSP")
	escaped := nfttest.Definition("upf", "Org1MSP")
	escaped.Description = "p99 < 250ms && errors > 1% \u2028 é \U0001F600 \"quoted\" \\ tab\t nl\n \x01"
	numbers := nfttest.Definition("nrf", "Org3MSP")
	numbers.SLO.Objective = 0.99995
	numbers.SLO.ErrorBudget = nft.ErrorBudget(0.99995)
	numbers.SLI.Metrics[0].Relevance = 1e-7
	numbers.SLI.Metrics[1].Relevance = 0.123456789012345678
	numbers.Version = 3
	return map[string]nft.Token{
		"plain":   nfttest.Token(plain),
		"round":   nfttest.Token(round),
		"escaped": nfttest.Token(escaped),
		"numbers": nfttest.Token(numbers),
	}
}

func TestTokenIDsOfFixturesAreUnchanged(t *testing.T) {
	// Recorded at c322cdd, before the direct encoder was removed.
	golden := map[string]struct{ id, digest, encoded string }{
		"plain": {
			"0aa8b467d5004f14c17a9a96dde3b1358bcfc23c3992b9be819a4b403c95b918",
			"sha256:e2b2f2a96c38eed86108aaa466ff0a19891e15695b16a51d7644be820c10b7bf",
			"4240a1ed7e1d3b51dbbacd0cfe54837fb97589771d6ad2ecc2263e4e3490aec3",
		},
		"round": {
			"c90d9ef03004a22c413d677ca0b99eba16531df43190c679ff227ccdb870f6ab",
			"sha256:6fbb3352b1d6533631a0e4cbee23e42a3fdfe758cfe88a2edcf621a35672845d",
			"e148357c285419f7d242ad25d58c5df1001461390738e7d70359c13f61b65bc5",
		},
		"escaped": {
			"2ce707726a32cbcbeaa17f3c0b9381221a849a267f820378918f6ccb118bac51",
			"sha256:f849afd9e80139f3581c199b666e785b1a7900a00732984d4442d632fe763ee0",
			"a51fe3b89204964f866142d82ea6e1ed699a0c2246e8cd72e3b4dbf997d993d7",
		},
		"numbers": {
			"b0cb46dbfb619b4bc7b8f43711a0c4f1f9d2073ee3d2ba92eff523bd9931ba43",
			"sha256:6e2866377d614adec24d5a5faa61a5cd11dc4e87a170f6c7b0b0398b626f5f00",
			"8c7adf4535c838021f40dd79d79df293602817a7e9326b80d04c6b0f9b46f7a8",
		},
	}
	for name, tok := range goldenFixtures() {
		t.Run(name, func(t *testing.T) {
			enc, err := nft.Canonical(tok)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(enc)
			got := struct{ id, digest, encoded string }{tok.ID, tok.Digest, hex.EncodeToString(sum[:])}
			if want := golden[name]; got != want {
				t.Errorf("fixture %s: got\n id %s\n digest %s\n encoding sha256 %s\nwant\n id %s\n digest %s\n encoding sha256 %s",
					name, got.id, got.digest, got.encoded, want.id, want.digest, want.encoded)
			}
		})
	}
}
