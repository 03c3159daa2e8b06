package stubtest

import (
	"fmt"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"

	"github.com/srellama/srellama/chaincode/devca"
)

// Identity is a transaction creator: a certificate issued by an
// organization's CA, serialized as Fabric serializes creators.
type Identity struct {
	*devca.Identity
	Creator []byte // protobuf msp.SerializedIdentity
}

// Org is one organization with its CA and an admin and a client identity.
type Org struct {
	MSPID  string
	CA     *devca.CA
	Admin  *Identity
	Client *Identity
}

// NewOrg creates an organization with a fresh CA.
func NewOrg(mspID string, now time.Time) (*Org, error) {
	ca, err := devca.New(mspID, nil, now)
	if err != nil {
		return nil, err
	}
	org := &Org{MSPID: mspID, CA: ca}
	if org.Admin, err = org.Issue(devca.RoleAdmin, "Admin@"+mspID, now); err != nil {
		return nil, err
	}
	if org.Client, err = org.Issue(devca.RoleClient, "User1@"+mspID, now); err != nil {
		return nil, err
	}
	return org, nil
}

// Issue creates another identity of the organization.
func (o *Org) Issue(role devca.Role, name string, now time.Time) (*Identity, error) {
	id, err := o.CA.Issue(role, name, now)
	if err != nil {
		return nil, err
	}
	return Wrap(id)
}

// Wrap serializes an issued identity as a transaction creator.
func Wrap(id *devca.Identity) (*Identity, error) {
	creator, err := Serialize(id.MSPID, id.CertPEM)
	if err != nil {
		return nil, err
	}
	return &Identity{Identity: id, Creator: creator}, nil
}

// Serialize builds Fabric's serialized identity for an MSP ID and a PEM
// certificate.
func Serialize(mspID string, certPEM []byte) ([]byte, error) {
	b, err := proto.Marshal(&msp.SerializedIdentity{Mspid: mspID, IdBytes: certPEM})
	if err != nil {
		return nil, fmt.Errorf("serializing identity: %w", err)
	}
	return b, nil
}
