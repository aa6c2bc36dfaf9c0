//! The domain records: a key, its material versions and their custody.

use uuid::Uuid;

use super::rules::KeyState;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// A KMS key as the sidecar records it. The material itself is in the token.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key id (a UUID), the last part of the key ARN.
    pub id: Uuid,
    /// When CreateKey was acknowledged.
    pub created_at: Millis,
    /// Free text from CreateKey / UpdateKeyDescription.
    pub description: String,
    /// What the key may be used for.
    pub usage: KeyUsage,
    /// The key's algorithm family.
    pub spec: KeySpec,
    /// Where the material came from.
    pub origin: Origin,
    /// The AWS key state.
    pub state: KeyState,
    /// The key policy document, as JSON text.
    pub policy: String,
    /// The material version new encryptions use; `None` for a key without material.
    pub current_material: Option<Uuid>,
    /// Every material version the key has had, oldest first.
    pub materials: Vec<Material>,
    /// When a key pending deletion is destroyed.
    pub deletion_date: Option<Millis>,
    /// The waiting period ScheduleKeyDeletion was given, in days.
    pub pending_window_days: Option<i64>,
    /// Automatic rotation settings.
    pub rotation: Rotation,
}

/// Automatic rotation of a key's material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rotation {
    /// Whether automatic rotation is on.
    pub enabled: bool,
    /// Days between automatic rotations.
    pub period_days: Option<i64>,
    /// When the next automatic rotation is due.
    pub next_at: Option<Millis>,
}

impl Key {
    /// The material version `id` if it belongs to this key.
    pub fn material(&self, id: Uuid) -> Option<&Material> {
        self.materials.iter().find(|m| m.id == id)
    }
}

/// One version of a key's material, with its own Cloud-KMS-style state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    /// The material id; also the CKA_ID of its token object.
    pub id: Uuid,
    /// The version's own state.
    pub state: MaterialState,
    /// How the token holds this material.
    pub custody: Custody,
    /// When the version was created.
    pub created_at: Millis,
    /// How the version came to be current: `None` for a key's first material.
    pub rotation_type: Option<RotationType>,
}

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// The name used on the wire and in the sidecar.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the name used on the wire and in the sidecar.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }

            /// Every accepted name, for validation messages.
            pub const NAMES: &'static [&'static str] = &[$($text),+];
        }
    };
}

wire_enum!(
    /// KeyUsage: only symmetric encryption is offered so far.
    KeyUsage { EncryptDecrypt = "ENCRYPT_DECRYPT" }
);

wire_enum!(
    /// KeySpec: AES-256-GCM inside the token.
    KeySpec { SymmetricDefault = "SYMMETRIC_DEFAULT" }
);

wire_enum!(
    /// Origin of the key material.
    Origin {
        /// Generated inside the token.
        AwsKms = "AWS_KMS",
        /// Imported by the caller, unwrapped inside the token.
        External = "EXTERNAL"
    }
);

wire_enum!(
    /// State of one material version (Google Cloud KMS CryptoKeyVersionState names).
    MaterialState {
        /// The token object is being created; never acknowledged to a client.
        PendingGeneration = "PENDING_GENERATION",
        /// Usable for encryption (if current) and decryption.
        Enabled = "ENABLED",
        /// The token object was destroyed with its key; ciphertexts under it are lost.
        Destroyed = "DESTROYED"
    }
);

wire_enum!(
    /// How the token holds a material version.
    Custody {
        /// A persistent token object whose CKA_ID is the material id. A later mode keeps
        /// material wrapped under a token-resident key and unwraps it into session objects.
        TokenObject = "TOKEN_OBJECT"
    }
);

wire_enum!(
    /// EncryptionAlgorithm members of Encrypt, Decrypt and ReEncrypt.
    EncryptionAlgorithm {
        /// AES-256-GCM, the only algorithm for symmetric keys.
        SymmetricDefault = "SYMMETRIC_DEFAULT",
        /// RSA OAEP with SHA-1 (asymmetric keys only).
        RsaesOaepSha1 = "RSAES_OAEP_SHA_1",
        /// RSA OAEP with SHA-256 (asymmetric keys only).
        RsaesOaepSha256 = "RSAES_OAEP_SHA_256",
        /// SM2 public-key encryption (asymmetric keys only).
        Sm2Pke = "SM2PKE"
    }
);

wire_enum!(
    /// How a material version became current (ListKeyRotations' RotationType).
    RotationType {
        /// By the rotation schedule.
        Automatic = "AUTOMATIC",
        /// By RotateKeyOnDemand.
        OnDemand = "ON_DEMAND"
    }
);
