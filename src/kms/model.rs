//! The domain records: a key, its material versions and their custody.

use std::sync::Arc;

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
    /// The key policy document, as JSON text; keys with the same text may share it.
    pub policy: Arc<str>,
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
    /// Imported material only: where it came from and how to recognise it again.
    pub import: Option<Imported>,
}

/// What is recorded about imported material (never the material itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The AES encryption of a fixed block under the material, computed in the token and
    /// truncated to 8 bytes: a re-import must produce the same value.
    pub key_check_value: Vec<u8>,
    /// Which side decoded the wrapping: the token, or the daemon (explicit fallback).
    pub unwrapped_by: UnwrappedBy,
    /// When the material expires (ExpirationModel KEY_MATERIAL_EXPIRES), else `None`.
    pub valid_to: Option<Millis>,
    /// KeyMaterialDescription.
    pub description: Option<String>,
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
    /// KeyUsage.
    KeyUsage {
        /// Encrypt and decrypt (symmetric keys and RSA keys).
        EncryptDecrypt = "ENCRYPT_DECRYPT",
        /// Sign and verify (RSA and ECC keys).
        SignVerify = "SIGN_VERIFY",
        /// GenerateMac and VerifyMac (HMAC keys).
        GenerateVerifyMac = "GENERATE_VERIFY_MAC",
        /// DeriveSharedSecret (NIST ECC keys).
        KeyAgreement = "KEY_AGREEMENT"
    }
);

wire_enum!(
    /// KeySpec: the key's algorithm and size; the private or secret half is in the token.
    KeySpec {
        /// AES-256-GCM.
        SymmetricDefault = "SYMMETRIC_DEFAULT",
        /// RSA, 2048-bit modulus.
        Rsa2048 = "RSA_2048",
        /// RSA, 3072-bit modulus.
        Rsa3072 = "RSA_3072",
        /// RSA, 4096-bit modulus.
        Rsa4096 = "RSA_4096",
        /// NIST P-256 (secp256r1).
        EccNistP256 = "ECC_NIST_P256",
        /// NIST P-384 (secp384r1).
        EccNistP384 = "ECC_NIST_P384",
        /// NIST P-521 (secp521r1).
        EccNistP521 = "ECC_NIST_P521",
        /// secp256k1.
        EccSecgP256k1 = "ECC_SECG_P256K1",
        /// HMAC with SHA-224, 224-bit key.
        Hmac224 = "HMAC_224",
        /// HMAC with SHA-256, 256-bit key.
        Hmac256 = "HMAC_256",
        /// HMAC with SHA-384, 384-bit key.
        Hmac384 = "HMAC_384",
        /// HMAC with SHA-512, 512-bit key.
        Hmac512 = "HMAC_512"
    }
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
        /// Kept, not usable until enabled again (Cloud KMS versions only).
        Disabled = "DISABLED",
        /// Not usable; destroyed at its destroy time unless restored (Cloud KMS versions).
        DestroyScheduled = "DESTROY_SCHEDULED",
        /// An import into this version failed; it never held material (Cloud KMS).
        ImportFailed = "IMPORT_FAILED",
        /// The token object was destroyed with its key; ciphertexts under it are lost.
        Destroyed = "DESTROYED",
        /// Imported material whose token object was deleted or expired: the same material
        /// may be imported again.
        PendingImport = "PENDING_IMPORT",
        /// Imported as NEW_KEY_MATERIAL, waiting for RotateKeyOnDemand (AWS's name).
        PendingRotation = "PENDING_ROTATION"
    }
);

impl MaterialState {
    /// Whether a version in this state keeps its token object.
    pub fn holds_material(self) -> bool {
        matches!(
            self,
            MaterialState::Enabled
                | MaterialState::Disabled
                | MaterialState::DestroyScheduled
                | MaterialState::PendingRotation
        )
    }
}

wire_enum!(
    /// How the token holds a material version.
    Custody {
        /// A persistent token object whose CKA_ID is the material id.
        TokenObject = "TOKEN_OBJECT",
        /// Wrapped under the token's key-encryption key in the sidecar, and unwrapped into a
        /// session object (sensitive, non-extractable) for use.
        Wrapped = "WRAPPED"
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

wire_enum!(
    /// Which side decoded imported material's wrapping.
    UnwrappedBy {
        /// C_UnwrapKey in the token: the material never left it in plaintext.
        Token = "TOKEN",
        /// OAEP decoded in the daemon after raw RSA in the token (opt-in fallback).
        Host = "HOST"
    }
);

/// A set of import parameters: a wrapping key pair in the token, with Cloud KMS's
/// import-job lifecycle (PENDING_GENERATION -> ACTIVE -> EXPIRED, never leaving EXPIRED).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportJob {
    /// The job id; also the CKA_ID of the wrapping key pair.
    pub id: Uuid,
    /// The key the parameters were issued for.
    pub key_id: Uuid,
    /// Where the job is in its lifecycle.
    pub state: ImportJobState,
    /// How the caller must wrap the material.
    pub algorithm: WrappingAlgorithm,
    /// The wrapping key's size.
    pub spec: WrappingKeySpec,
    /// ParametersValidTo.
    pub valid_to: Millis,
    /// When GetParametersForImport was called.
    pub created_at: Millis,
}

wire_enum!(
    /// Import job states (Cloud KMS ImportJobState names).
    ImportJobState {
        /// The wrapping key is being generated in the token.
        PendingGeneration = "PENDING_GENERATION",
        /// The wrapping key can be used.
        Active = "ACTIVE",
        /// Past ParametersValidTo, or superseded by newer parameters: its wrapping key is
        /// destroyed and it never becomes usable again.
        Expired = "EXPIRED"
    }
);

wire_enum!(
    /// WrappingAlgorithm of GetParametersForImport.
    WrappingAlgorithm {
        /// RSA-OAEP with SHA-1.
        RsaesOaepSha1 = "RSAES_OAEP_SHA_1",
        /// RSA-OAEP with SHA-256.
        RsaesOaepSha256 = "RSAES_OAEP_SHA_256",
        /// RSA-OAEP (SHA-1) of an ephemeral AES key, then RFC 5649 key wrap.
        RsaAesKeyWrapSha1 = "RSA_AES_KEY_WRAP_SHA_1",
        /// RSA-OAEP (SHA-256) of an ephemeral AES key, then RFC 5649 key wrap.
        RsaAesKeyWrapSha256 = "RSA_AES_KEY_WRAP_SHA_256"
    }
);

wire_enum!(
    /// WrappingKeySpec of GetParametersForImport.
    WrappingKeySpec {
        /// RSA 2048-bit.
        Rsa2048 = "RSA_2048",
        /// RSA 3072-bit.
        Rsa3072 = "RSA_3072",
        /// RSA 4096-bit.
        Rsa4096 = "RSA_4096"
    }
);

wire_enum!(
    /// SigningAlgorithm of Sign and Verify (the ones served; see `asym::signing_algorithms`).
    SigningAlgorithm {
        /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt.
        RsassaPssSha256 = "RSASSA_PSS_SHA_256",
        /// RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt.
        RsassaPssSha384 = "RSASSA_PSS_SHA_384",
        /// RSASSA-PSS with SHA-512, MGF1-SHA-512 and a 64-byte salt.
        RsassaPssSha512 = "RSASSA_PSS_SHA_512",
        /// RSASSA-PKCS1-v1_5 with SHA-256.
        RsassaPkcs1V15Sha256 = "RSASSA_PKCS1_V1_5_SHA_256",
        /// RSASSA-PKCS1-v1_5 with SHA-384.
        RsassaPkcs1V15Sha384 = "RSASSA_PKCS1_V1_5_SHA_384",
        /// RSASSA-PKCS1-v1_5 with SHA-512.
        RsassaPkcs1V15Sha512 = "RSASSA_PKCS1_V1_5_SHA_512",
        /// ECDSA with SHA-256.
        EcdsaSha256 = "ECDSA_SHA_256",
        /// ECDSA with SHA-384.
        EcdsaSha384 = "ECDSA_SHA_384",
        /// ECDSA with SHA-512.
        EcdsaSha512 = "ECDSA_SHA_512"
    }
);

wire_enum!(
    /// MacAlgorithm of GenerateMac and VerifyMac.
    MacAlgorithm {
        /// HMAC with SHA-224.
        HmacSha224 = "HMAC_SHA_224",
        /// HMAC with SHA-256.
        HmacSha256 = "HMAC_SHA_256",
        /// HMAC with SHA-384.
        HmacSha384 = "HMAC_SHA_384",
        /// HMAC with SHA-512.
        HmacSha512 = "HMAC_SHA_512"
    }
);

wire_enum!(
    /// MessageType of Sign and Verify.
    MessageType {
        /// The message itself, hashed here with the algorithm's hash.
        Raw = "RAW",
        /// A digest the caller computed with the algorithm's hash.
        Digest = "DIGEST"
    }
);
