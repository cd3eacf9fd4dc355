//! Runs one command on an open connection, reading its output as it streams in and closing the
//! channel the moment it passes the cap: memory use is bounded by the cap, not by the server.

use russh::ChannelMsg;

use super::connection::{from_russh, Connection};
use super::error::{CommandFailure, SshError};

/// The command's stdout, if it exited 0 within the cap. stderr is read and discarded.
pub async fn run_capped(
    connection: &Connection,
    command: &str,
    max_output_bytes: usize,
) -> Result<Vec<u8>, SshError> {
    let mut channel = match connection.handle.channel_open_session().await {
        Ok(channel) => channel,
        Err(russh::Error::ChannelOpenFailure(_)) => {
            return Err(CommandFailure::Refused.into());
        }
        Err(error) => return Err(from_russh(error)),
    };
    channel.exec(true, command).await.map_err(from_russh)?;
    let mut output = Vec::new();
    let mut exit_status = None;
    let mut killed = false;
    while let Some(message) = channel.wait().await {
        match message {
            ChannelMsg::Data { data } => {
                if output.len() + data.len() > max_output_bytes {
                    let _ = channel.close().await;
                    return Err(CommandFailure::OutputTooLarge(max_output_bytes).into());
                }
                output.extend_from_slice(&data);
            }
            ChannelMsg::ExitStatus { exit_status: code } => exit_status = Some(code),
            ChannelMsg::ExitSignal { .. } => killed = true,
            ChannelMsg::Failure => return Err(CommandFailure::Refused.into()),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    match (killed, exit_status) {
        (true, _) => Err(CommandFailure::Signal.into()),
        (false, Some(0)) => Ok(output),
        (false, Some(code)) => Err(CommandFailure::ExitStatus(code).into()),
        (false, None) if connection.handle.is_closed() => Err(SshError::ConnectionLost),
        (false, None) => Err(CommandFailure::NoExitStatus.into()),
    }
}
