//! `pipectl key`: what Snowflake needs to know about a private key, read from the key file.

use std::path::PathBuf;

use clap::Args;
use pipectl::error::CliError;
use snowflake::KeyPair;

#[derive(Args, Debug)]
pub struct KeyArgs {
    /// PKCS#8 PEM private key (the passphrase, if any, from SNOWFLAKE_PRIVATE_KEY_PASSPHRASE).
    #[arg(long, env = "SNOWFLAKE_PRIVATE_KEY_PATH", value_name = "FILE")]
    private_key_path: PathBuf,
    /// The Snowflake user the key is for (printed into the ALTER USER statement).
    #[arg(long, env = "SNOWFLAKE_USER", default_value = "<user>")]
    user: String,
}

/// Prints the fingerprint, the public key body and the statement that registers it.
/// Exit status: 0 done, 2 the key cannot be read or used (with what to do about it).
pub fn run(args: KeyArgs) -> Result<(), CliError> {
    let path = &args.private_key_path;
    let pem = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    let passphrase = std::env::var("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE").ok();
    let key = KeyPair::from_pem(&pem, passphrase.as_deref()).map_err(CliError::usage)?;
    println!("fingerprint:     {}", key.fingerprint());
    println!("public key body: {}", key.public_key_base64());
    println!();
    println!("Register it (DESCRIBE USER then shows the fingerprint as RSA_PUBLIC_KEY_FP):");
    println!(
        "ALTER USER {} SET RSA_PUBLIC_KEY = '{}';",
        args.user,
        key.public_key_base64()
    );
    Ok(())
}
