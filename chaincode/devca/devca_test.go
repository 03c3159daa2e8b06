package devca_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/srellama/srellama/chaincode/devca"
)

func TestIssueVerifySaveLoad(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	ca, err := devca.New("Org1MSP", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []devca.Role{devca.RoleAdmin, devca.RoleClient, devca.RolePeer} {
		id, err := ca.Issue(role, string(role)+"@org1", now, "localhost", "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if got := devca.RoleOf(id.Cert); got != role {
			t.Errorf("RoleOf = %q, want %q", got, role)
		}
		if err := ca.Verify(id.Cert, now); err != nil {
			t.Errorf("own certificate does not verify: %v", err)
		}
		if _, err := devca.ParseKeyPEM(id.KeyPEM); err != nil {
			t.Errorf("key PEM: %v", err)
		}
	}
	other, _ := devca.New("Org2MSP", nil, now)
	foreign, _ := other.Issue(devca.RoleAdmin, "Admin@org2", now)
	if err := ca.Verify(foreign.Cert, now); err == nil {
		t.Error("a certificate from another CA verified")
	}

	dir := filepath.Join(t.TempDir(), "ca")
	if err := ca.Save(dir); err != nil {
		t.Fatal(err)
	}
	loaded, err := devca.Load(dir, "Org1MSP")
	if err != nil {
		t.Fatal(err)
	}
	id, err := loaded.Issue(devca.RoleClient, "User2@org1", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Verify(id.Cert, now); err != nil {
		t.Errorf("certificate from the reloaded CA does not verify with the original: %v", err)
	}
}
