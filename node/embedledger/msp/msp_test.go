package msp_test

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/devca"
	"github.com/srellama/srellama/node/embedledger/msp"
)

func TestIdentifyAcceptsOnlyMembersInTheirRoles(t *testing.T) {
	now := time.Now()
	org1, _ := devca.New("Org1MSP", nil, now)
	foreign, _ := devca.New("Org1MSP", nil, now)
	other, _ := devca.New("OtherMSP", nil, now)
	v := msp.NewVerifier(map[string]*x509.Certificate{"Org1MSP": org1.Cert}, func() time.Time { return now })

	client, _ := org1.Issue(devca.RoleClient, "User1", now)
	peer, _ := org1.Issue(devca.RolePeer, "peer0", now)
	forged, _ := foreign.Issue(devca.RoleClient, "mallory", now)
	outsider, _ := other.Issue(devca.RoleClient, "eve", now)
	ser := func(mspID string, id *devca.Identity) []byte {
		b, _ := msp.Serialize(mspID, id.CertPEM)
		return b
	}
	tests := []struct {
		name       string
		serialized []byte
		roles      []devca.Role
		ok         bool
	}{
		{"client as client", ser("Org1MSP", client), []devca.Role{devca.RoleClient, devca.RoleAdmin}, true},
		{"peer as client", ser("Org1MSP", peer), []devca.Role{devca.RoleClient, devca.RoleAdmin}, false},
		{"peer as peer", ser("Org1MSP", peer), []devca.Role{devca.RolePeer}, true},
		{"certificate of a foreign CA", ser("Org1MSP", forged), nil, false},
		{"non-member MSP", ser("OtherMSP", outsider), nil, false},
		{"member cert claimed by another MSP ID", ser("OtherMSP", client), nil, false},
		{"garbage", []byte("not a protobuf \xff\xff"), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Identify(tt.serialized, tt.roles...)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, msp.ErrUnknownIdentity) {
				t.Errorf("err %v is not ErrUnknownIdentity", err)
			}
		})
	}
	later := msp.NewVerifier(map[string]*x509.Certificate{"Org1MSP": org1.Cert}, func() time.Time { return now.Add(10 * 365 * 24 * time.Hour) })
	if _, err := later.Identify(ser("Org1MSP", client)); err == nil {
		t.Error("an expired certificate was accepted")
	}
}

func TestSignaturesMustBeLowSAndOverTheMessage(t *testing.T) {
	now := time.Now()
	ca, _ := devca.New("Org1MSP", nil, now)
	id, _ := ca.Issue(devca.RoleClient, "u", now)
	signer := msp.NewSigner(&msp.Identity{Cert: id.Cert}, id.Key)
	msg := []byte("proposal bytes")
	sig, err := signer.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	pub := id.Cert.PublicKey.(*ecdsa.PublicKey)
	if err := msp.VerifySignature(pub, msg, sig); err != nil {
		t.Fatalf("genuine signature refused: %v", err)
	}
	if err := msp.VerifySignature(pub, []byte("other bytes"), sig); !errors.Is(err, msp.ErrBadSignature) {
		t.Errorf("signature over other bytes: %v", err)
	}
	// The same signature with S replaced by N-S verifies mathematically but
	// is a malleated duplicate; Fabric refuses it.
	var rs struct{ R, S *big.Int }
	asn1.Unmarshal(sig, &rs)
	rs.S.Sub(pub.Curve.Params().N, rs.S)
	highS, _ := asn1.Marshal(rs)
	digest := sha256.Sum256(msg)
	if !ecdsa.VerifyASN1(pub, digest[:], highS) {
		t.Fatal("test setup: high-S twin should verify mathematically")
	}
	if err := msp.VerifySignature(pub, msg, highS); !errors.Is(err, msp.ErrBadSignature) {
		t.Errorf("high-S signature: %v", err)
	}
}
