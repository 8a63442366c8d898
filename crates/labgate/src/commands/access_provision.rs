//! `labgate access provision`: provisioning on an access source's GitLab through a running
//! server (`LABGATE_URL`, `LABGATE_API_KEY`, an admin key): create an account, grant, revoke,
//! deprovision (each with `--dry-run`), and show, list or resume operations. An operation that
//! does not end as asked (failed, partial, or waiting for a choice) exits non-zero.

use anyhow::bail;
use clap::{Args, Subcommand};
use comfy_table::Table;
use labgate_client::Client;
use labgate_proto::access_provisioning::{
    ProvisioningAction, ProvisioningListQuery, ProvisioningOperationView, ProvisioningRequest,
    ProvisioningStatus, ProvisioningStepChoice,
};

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    #[command(subcommand)]
    command: ProvisionCommand,
}

#[derive(Debug, Subcommand)]
enum ProvisionCommand {
    /// Create an account (self-managed; --account is the username, --email its address) or
    /// invite an address to the source's group (GitLab.com; --level needed).
    CreateAccount(OperationArgs),
    /// Add a direct member at --level on --resource, or change a direct member's level.
    Grant(OperationArgs),
    /// Remove a direct membership of --resource; inherited access is reported (add
    /// --step remove-at-source to remove it where it is granted).
    Revoke(OperationArgs),
    /// Take access away with the chosen --step's: cancel-invitations, revoke-tokens,
    /// remove-memberships, block or deactivate, delete (with --confirm USERNAME).
    Deprovision(OperationArgs),
    /// One operation with its steps.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Operations, newest first.
    List {
        /// Only this access source's.
        #[arg(long)]
        source: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Run a failed or interrupted operation again from where it stopped.
    Resume {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct OperationArgs {
    /// The access source (its id).
    #[arg(long)]
    source: String,
    /// A username or an e-mail address (matched exactly).
    #[arg(long)]
    account: String,
    /// The group or project's full path (or id).
    #[arg(long)]
    resource: Option<String>,
    /// 5 (Minimal Access), 10, 15 (Planner), 20, 25, 30, 40 or 50.
    #[arg(long)]
    level: Option<i64>,
    /// A custom role built on --level.
    #[arg(long)]
    member_role_id: Option<u64>,
    /// The date (YYYY-MM-DD) the membership or invitation ends.
    #[arg(long)]
    expires_at: Option<String>,
    /// create-account: the e-mail address.
    #[arg(long)]
    email: Option<String>,
    /// create-account: the display name.
    #[arg(long)]
    name: Option<String>,
    /// create-account: set a random password nobody is told instead of e-mailing a reset link.
    #[arg(long)]
    random_password: bool,
    /// create-account: the account is usable without confirming its e-mail address.
    #[arg(long)]
    skip_confirmation: bool,
    /// A step to take (repeatable), e.g. --step revoke-tokens --step block.
    #[arg(long = "step", value_parser = parse_step)]
    steps: Vec<ProvisioningStepChoice>,
    /// deprovision with delete: the account's username, typed out.
    #[arg(long)]
    confirm: Option<String>,
    /// Plan only: read GitLab and show every step; change nothing.
    #[arg(long)]
    dry_run: bool,
    #[arg(long)]
    json: bool,
}

fn parse_step(value: &str) -> Result<ProvisioningStepChoice, String> {
    ProvisioningStepChoice::parse(value)
        .ok_or_else(|| format!("expected one of {}", ProvisioningStepChoice::names()))
}

fn request(action: ProvisioningAction, args: OperationArgs) -> (ProvisioningRequest, bool) {
    let json = args.json;
    let request = ProvisioningRequest {
        source_id: args.source,
        action,
        account: args.account,
        email: args.email,
        name: args.name,
        reset_password: args.random_password.then_some(false),
        skip_confirmation: args.skip_confirmation.then_some(true),
        resource: args.resource,
        access_level: args.level,
        member_role_id: args.member_role_id,
        expires_at: args.expires_at,
        steps: (!args.steps.is_empty()).then_some(args.steps),
        confirm: args.confirm,
        dry_run: args.dry_run,
    };
    (request, json)
}

fn print_operation(operation: &ProvisioningOperationView) {
    let account = operation
        .account
        .username
        .clone()
        .or_else(|| operation.account.id.map(|id| format!("user {id}")))
        .unwrap_or_else(|| "-".to_owned());
    println!(
        "{} {} {} — {}{}",
        operation.id,
        operation.action,
        account,
        operation.status,
        if operation.dry_run { " (dry run)" } else { "" }
    );
    let mut table = Table::new();
    table.set_header(["#", "STEP", "TARGET", "STATUS", "MESSAGE"]);
    for (n, step) in operation.steps.iter().enumerate() {
        table.add_row([
            (n + 1).to_string(),
            step.name.clone(),
            step.target.clone().unwrap_or_default(),
            step.status.to_string(),
            step.message.clone(),
        ]);
    }
    println!("{table}");
    if let Some(message) = &operation.message {
        println!("{message}");
    }
}

/// Prints an operation and fails unless it ended as asked.
fn report(operation: &ProvisioningOperationView, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(operation)?);
    } else {
        print_operation(operation);
    }
    match operation.status {
        ProvisioningStatus::Planned
        | ProvisioningStatus::Succeeded
        | ProvisioningStatus::Unchanged
        | ProvisioningStatus::Running => Ok(()),
        status => bail!(
            "the operation is {status}: {}",
            operation.message.as_deref().unwrap_or("see its steps")
        ),
    }
}

pub async fn run(args: ProvisionArgs) -> anyhow::Result<()> {
    let client = Client::from_env()?;
    let (action, operation) = match args.command {
        ProvisionCommand::CreateAccount(args) => (ProvisioningAction::CreateAccount, args),
        ProvisionCommand::Grant(args) => (ProvisioningAction::Grant, args),
        ProvisionCommand::Revoke(args) => (ProvisioningAction::Revoke, args),
        ProvisionCommand::Deprovision(args) => (ProvisioningAction::Deprovision, args),
        ProvisionCommand::Show { id, json } => {
            return report(&client.provisioning_operation(&id).await?, json);
        }
        ProvisionCommand::Resume { id, json } => {
            return report(&client.resume_provisioning_operation(&id).await?, json);
        }
        ProvisionCommand::List { source, json } => {
            let list = client
                .provisioning_operations(&ProvisioningListQuery {
                    source_id: source,
                    ..ProvisioningListQuery::default()
                })
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            let mut table = Table::new();
            table.set_header(["ID", "ACTION", "ACCOUNT", "STATUS", "DRY RUN", "CREATED"]);
            for operation in &list.operations {
                table.add_row([
                    operation.id.clone(),
                    operation.action.to_string(),
                    operation.account.username.clone().unwrap_or_default(),
                    operation.status.to_string(),
                    if operation.dry_run { "yes" } else { "no" }.to_owned(),
                    operation.created_at.clone(),
                ]);
            }
            println!("{table}");
            return Ok(());
        }
    };
    let (request, json) = request(action, operation);
    report(&client.provision_access(&request).await?, json)
}
