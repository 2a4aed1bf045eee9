//! The cluster file: each party's address and certificate, and the CA that signs them.
//!
//! ```toml
//! ca = "ca.pem"
//! [[party]]
//! name = "alice"
//! address = "127.0.0.1:20000"
//! cert = "alice.pem"
//! key = "alice.key"    # read only by alice
//!
//! [dealer]             # optional: a separate dealer process instead of the first party
//! name = "dealer"
//! address = "127.0.0.1:20002"
//! cert = "dealer.pem"
//! key = "dealer.key"
//! ```
//!
//! Paths are relative to the cluster file. `sfvm cluster init` writes one for trying a cluster
//! on one machine: a fresh CA, and a key and certificate per party (rcgen).

use crate::error::VmError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterFile {
    pub ca: String,
    #[serde(rename = "party")]
    pub parties: Vec<PartyEntry>,
    /// A separate dealer of correlated randomness (`sfvm dealer`); without one, the first party
    /// of the module deals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dealer: Option<PartyEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PartyEntry {
    pub name: String,
    /// Where the others reach this party.
    pub address: String,
    pub cert: String,
    pub key: String,
    /// Where this party listens, when it differs from `address` (behind a proxy or NAT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
}

/// A cluster file read and checked, with its folder for resolving paths.
pub struct Cluster {
    pub path: PathBuf,
    pub file: ClusterFile,
}

impl Cluster {
    pub fn load(path: &Path) -> Result<Cluster, VmError> {
        let err = |message: String| VmError::Data { path: path.to_path_buf(), message };
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
        let file: ClusterFile = toml::from_str(&text).map_err(|e| err(e.to_string().trim().replace('\n', " ")))?;
        if let Some(d) = &file.dealer {
            if file.parties.iter().any(|p| p.name == d.name) {
                return Err(err(format!("the dealer is named `{}` like a party; it must be a separate process", d.name)));
            }
        }
        for (i, p) in file.parties.iter().enumerate() {
            if file.parties[..i].iter().any(|q| q.name == p.name) {
                return Err(err(format!("party `{}` is listed twice", p.name)));
            }
        }
        for p in file.parties.iter().chain(&file.dealer) {
            for a in std::iter::once(&p.address).chain(p.listen.as_ref()) {
                if a.parse::<std::net::SocketAddr>().is_err() {
                    return Err(err(format!("`{}`: `{a}` is not an address like 127.0.0.1:20000", p.name)));
                }
            }
        }
        Ok(Cluster { path: path.to_path_buf(), file })
    }

    pub fn resolve(&self, relative: &str) -> PathBuf {
        self.path.parent().unwrap_or(Path::new(".")).join(relative)
    }

    pub fn party(&self, name: &str) -> Result<&PartyEntry, VmError> {
        self.file.parties.iter().find(|p| p.name == name).ok_or_else(|| VmError::Data {
            path: self.path.clone(),
            message: format!(
                "no party `{name}`; the cluster's parties are {}",
                self.file.parties.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        })
    }
}

/// The name `sfvm cluster init --dealer` gives the separate dealer.
pub const DEALER: &str = "dealer";

/// Writes `DIR/cluster.toml`, a fresh CA, and a key and certificate for each party (and for a
/// separate dealer, named `dealer`, if asked), on `host` with consecutive ports from
/// `base_port`. Each file is written whole or not at all.
pub fn init(dir: &Path, parties: &[String], host: &str, base_port: u16, dealer: bool) -> Result<PathBuf, VmError> {
    let fail = |message: String| VmError::Data { path: dir.to_path_buf(), message };
    if parties.len() < 2 {
        return Err(fail("a cluster needs at least two parties".into()));
    }
    if dealer && parties.iter().any(|p| p == DEALER) {
        return Err(fail(format!("a party is named `{DEALER}`, the name of the separate dealer")));
    }
    let nodes: Vec<String> = parties.iter().cloned().chain(dealer.then(|| DEALER.to_string())).collect();
    if base_port as usize + nodes.len() > u16::MAX as usize {
        return Err(fail(format!("ports from {base_port} run past 65535")));
    }
    std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create: {e}")))?;
    let rc = |e: rcgen::Error| fail(format!("cannot make a certificate: {e}"));
    let ca_key = rcgen::KeyPair::generate().map_err(rc)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(rc)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "sfvm cluster CA");
    let ca_cert = ca_params.self_signed(&ca_key).map_err(rc)?;
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    write_atomic(&dir.join("ca.pem"), &ca_cert.pem())?;
    let mut entries = Vec::new();
    for (i, name) in nodes.iter().enumerate() {
        let key = rcgen::KeyPair::generate().map_err(rc)?;
        let mut params = rcgen::CertificateParams::new(vec![name.clone()]).map_err(rc)?;
        params.distinguished_name.push(rcgen::DnType::CommonName, name.as_str());
        let cert = params.signed_by(&key, &issuer).map_err(rc)?;
        write_atomic(&dir.join(format!("{name}.pem")), &cert.pem())?;
        write_atomic(&dir.join(format!("{name}.key")), &key.serialize_pem())?;
        entries.push(PartyEntry {
            name: name.clone(),
            address: format!("{host}:{}", base_port as usize + i),
            cert: format!("{name}.pem"),
            key: format!("{name}.key"),
            listen: None,
        });
    }
    let dealer = if dealer { entries.pop() } else { None };
    let file = ClusterFile { ca: "ca.pem".into(), parties: entries, dealer };
    let text = toml::to_string(&file).map_err(|e| fail(e.to_string()))?;
    let path = dir.join("cluster.toml");
    write_atomic(&path, &format!("# Written by `sfvm cluster init`: each party's address and certificate.\n{text}"))?;
    Ok(path)
}

fn write_atomic(path: &Path, text: &str) -> Result<(), VmError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, path)).map_err(|source| VmError::Output { path: path.to_path_buf(), source })
}
