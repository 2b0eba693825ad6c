//! Command-line arguments (clap derive). Parsing only; `main.rs` validates and runs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "trailql",
    version,
    about = "Athena-style SQL over AWS CloudTrail logs: point it at a folder, ask, get answers.",
    after_help = "Examples:
  trailql demo
  trailql query -s ./AWSLogs \"SELECT eventname, count(*) FROM cloudtrail_logs GROUP BY 1 ORDER BY 2 DESC LIMIT 10\"
  trailql query -s ./AWSLogs -f who-opened-sg.sql --format csv -o answer.csv
  trailql query -s s3://org-trail-bucket --profile audit --cache ~/.cache/trailql \\
      \"SELECT count(*) FROM cloudtrail_logs WHERE account = '111122223333' AND eventtime >= '2024-08-01T14' AND eventtime < '2024-08-01T15'\"
  trailql exposure -s ./AWSLogs --report exposure.html
  trailql history -s ./AWSLogs sg-0123456789abcdef0
  trailql activity -s ./AWSLogs alice
  trailql schema
  trailql shell -s ./AWSLogs
  trailql generate ./sample --events 200000 --days 7 --seed 7"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one SQL statement over table `cloudtrail_logs`.
    #[command(after_help = "Examples:
  # Who opened a security group to the world, and when?
  trailql query -s ./AWSLogs \"SELECT eventtime, useridentity.arn, json_extract_scalar(requestparameters, '$.groupId') AS sg
      FROM cloudtrail_logs
      WHERE eventname = 'AuthorizeSecurityGroupIngress' AND requestparameters LIKE '%0.0.0.0/0%'\"

  # One day of one account: other folders are not walked, files pruned by key before opening:
  trailql query -s ./AWSLogs --stats \"SELECT count(*) FROM cloudtrail_logs
      WHERE account = '111122223333' AND eventtime >= '2024-08-03' AND eventtime < '2024-08-04'\"

  # Which rows stand on log files that validated against their signed digests?
  trailql query -s ./AWSLogs --public-keys keys.json 'SELECT eventtime, eventname, \"$verified\" FROM cloudtrail_logs'

Pruning: filters on account, region, timestamp or date ('yyyy/MM/dd'), year, month, day and eventtime
skip files by their key. eventtime pruning reads files delivered up to --late-margin after the
window, because CloudTrail delivers late sometimes.")]
    Query(QueryArgs),
    /// Which security-group rules opened a group to the internet, who did it, and is it still open?
    #[command(after_help = "Examples:
  trailql exposure -s ./AWSLogs
  trailql exposure -s ./AWSLogs --group sg-0123456789abcdef0 --report sg.html
  trailql exposure -s ./AWSLogs --port 22 --public --start 2024-08-01 --format json

Replays AuthorizeSecurityGroupIngress/Egress, RevokeSecurityGroupIngress/Egress,
ModifySecurityGroupRules, CreateSecurityGroup, DeleteSecurityGroup and
UpdateSecurityGroupRuleDescriptions* in time order, in every request shape CloudTrail records.
Failed calls are shown as attempts. Status: open, closed (when, by whom), unknown (a later change
could not be tied to the rule). In SQL: SELECT * FROM exposure() (exposure(true) for --public).")]
    Exposure(ExposureArgs),
    /// Everything that touched a resource: events whose request, response or resources mention it.
    #[command(after_help = "Examples:
  trailql history -s ./AWSLogs sg-0123456789abcdef0
  trailql history -s ./AWSLogs arn:aws:s3:::my-bucket --start 2024-08-01T00:00:00Z --report bucket.html
In SQL: SELECT * FROM history('sg-0123456789abcdef0').")]
    History(TimelineArgs),
    /// Everything a principal did: by user name, role or session ARN, role name or access key id.
    #[command(after_help = "Examples:
  trailql activity -s ./AWSLogs alice
  trailql activity -s ./AWSLogs AKIAIOSFODNN7EXAMPLE --format csv -o alice.csv
  trailql activity -s ./AWSLogs arn:aws:iam::111122223333:role/Deployer --report deployer.html
In SQL: SELECT * FROM activity('alice').")]
    Activity(TimelineArgs),
    /// Prove the logs were not tampered with: walk the CloudTrail digest chain, check signatures
    /// and every log file's SHA-256.
    #[command(after_help = "Examples:
  aws cloudtrail list-public-keys --start-time 2024-01-01 --output json > keys.json
  trailql validate -s ./copy-of-bucket --public-keys keys.json --start 2024-08-01
  trailql validate -s ./copy-of-bucket --public-keys keys.json --start 2024-08-01T10:00:00Z --end 2024-08-01T12:00:00Z --format json
  trailql validate -s s3://org-trail-bucket --profile audit --account 111122223333 --start 2024-08-01
    (keys fetched with ListPublicKeys using the audit profile)

A local source is the folder that holds AWSLogs/. The newest digest's signature lives in S3 object
metadata (read directly from s3:// sources); for a local copy pass it with --newest-signature, or
keep it beside the digest as <digest>.json.gz.signature, else it is reported as not available
offline (a warning). On S3 only the window's digests and log files are listed.
Exit code 0 only when everything checkable validated and nothing is missing.")]
    Validate(ValidateArgs),
    /// Run detection rules over the trail: the bundled pack, and Sigma rules of your own.
    #[command(after_help = "Examples:
  trailql detect -s ./AWSLogs
  trailql detect -s s3://org-trail-bucket --start 2024-08-01 --level high --format jsonl -o alerts.jsonl
  trailql detect -s ./AWSLogs --rules ./sigma/rules/cloud/aws --filter known-good.yml
  trailql detect --list

Rules are Sigma (specification 2.1) files; those whose logsource is not AWS CloudTrail are skipped
and counted, and a file that does not parse is named with the reason while the others run. Field
names match ignoring case, dotted paths go through arrays (any element matches), and an object
reached by a path is its JSON text for contains/re. Only records holding a word some rule needs
are parsed (--no-prefilter parses all).")]
    Detect(DetectArgs),
    /// Keep a Parquet copy of the trail (incremental, deduplicated) that trailql, Athena, Spark,
    /// Trino and DuckDB query; `-s LAKE` then reads it like the trail.
    #[command(after_help = "Examples:
  trailql lake sync -s ./AWSLogs --lake ./lake
  trailql lake sync -s s3://org-trail-bucket --profile audit --lake s3://analytics/cloudtrail --start 2024-08-01
  trailql query -s ./lake \"SELECT eventname, count(*) FROM cloudtrail_logs GROUP BY 1 ORDER BY 2 DESC\"
  trailql lake compact --lake ./lake
  trailql lake ddl --lake s3://analytics/cloudtrail --engine athena

Layout: account=…/region=…/date=YYYY-MM-DD/*.parquet (the event's UTC day), rows sorted by
eventtime, zstd. A re-run converts only new or changed files (manifest in _trailql/); an event
delivered twice is one row.")]
    Lake(LakeArgs),
    /// Follow the trail as it is delivered and alert on each new file (rules of `detect`).
    #[command(after_help = "Examples:
  trailql watch -s ./AWSLogs --state ~/.trailql-watch
  trailql watch -s s3://org-trail-bucket --profile audit --state /var/lib/trailql \\
      --alert-file alerts.jsonl --slack-webhook https://hooks.slack.com/services/...
  trailql watch --sqs https://sqs.us-east-1.amazonaws.com/111122223333/trail-deliveries --state st
  trailql watch -s ./AWSLogs --state st --start 2024-08-01 --once --json

Runs the rules of `detect` (the bundled pack, plus --rules; correlations included) on each trail
file as it is delivered: local folders are woken by file-system notifications and listed every
--interval, S3 prefixes are listed every --interval from the newest delivery seen, an SQS queue
(--sqs) is long-polled. --state keeps what was processed and the alerts an output has not taken
yet, so a stopped (or killed) watch started again misses nothing: the alert file gets each alert
exactly once; standard output and webhooks may get the alert being sent at a kill once more,
with the same id. A webhook that is down keeps its alerts queued in the state and gets them, in
order, when it is back. Webhook bodies are signed (X-Trailql-Signature: sha256=HMAC) with the
secret in $TRAILQL_WEBHOOK_SECRET when it is set.")]
    Watch(WatchArgs),
    /// Serve the investigation in a browser: query, schema, exposure, history, activity,
    /// detections and integrity pages, on loopback, behind a per-run token.
    #[command(
        after_help = "Security: the server listens on 127.0.0.1 unless --bind says otherwise, and
answers only requests that carry the per-run token in the URL it prints (then a cookie), addressed
to its own host name (DNS-rebinding defence) and, from a browser, from its own origin. It sends no
CORS headers, runs only statements that read (SELECT, WITH, EXPLAIN), and fetches nothing from the
network: the pages are compiled into the binary.

Example:
  trailql serve -s ./AWSLogs --open"
    )]
    Serve(ServeArgs),
    /// Print the table's columns (or Athena-style DDL with --ddl); with --dialect lake, the
    /// columns of CloudTrail Lake's schema as trailql gives them.
    Schema {
        /// Print a CREATE TABLE statement instead of the column list.
        #[arg(long, conflicts_with = "dialect")]
        ddl: bool,
        /// Whose schema: Athena's `cloudtrail_logs` or CloudTrail Lake's event data store.
        #[arg(long, value_enum, default_value_t = SchemaDialect::Athena)]
        dialect: SchemaDialect,
    },
    /// An interactive SQL prompt with history (end statements with `;`).
    Shell {
        #[command(flatten)]
        scan: ScanArgs,
        #[command(flatten)]
        dialect: DialectArgs,
    },
    /// Write a realistic synthetic trail with planted security-group openings.
    Generate(GenerateArgs),
    /// Generate a sample trail (if missing) and answer the seed question on it.
    Demo {
        /// Where the sample trail lives.
        #[arg(long, default_value = "sample")]
        dir: PathBuf,
    },
}

/// Where the logs are, and how to reach S3 when they are in a bucket.
#[derive(Args, Debug, Clone)]
pub struct SourceArgs {
    /// A trail bucket s3://BUCKET[/PREFIX] (single-account or organization trail), or a local
    /// copy: a folder (walked recursively; for validate, the folder that holds AWSLogs/) or a
    /// file; or, for an account with no trail to S3, its 90-day event history through the
    /// CloudTrail API: cloudtrail-api://REGION[,REGION…] (query, shell, serve, exposure,
    /// history, activity, detect, lake sync). Repeat for several.
    #[arg(
        short = 's',
        long = "source",
        value_name = "PATH|s3://BUCKET/PREFIX|cloudtrail-api://REGIONS",
        help_heading = "Sources"
    )]
    pub sources: Vec<String>,
    /// For cloudtrail-api:// sources: the LookupEvents attribute to send, KEY=VALUE[,VALUE…]
    /// (EventId, AccessKeyId, ResourceName, Username, EventName, ResourceType, EventSource,
    /// ReadOnly), instead of the one taken from the statement's filters. The statement still
    /// filters what comes back.
    #[arg(long, value_name = "KEY=VALUE", help_heading = "Sources")]
    pub lookup: Option<String>,
    #[command(flatten)]
    pub s3: S3Args,
}

#[derive(Args, Debug, Clone)]
pub struct ScanArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Treat any bad file or record as an error (exit 1) instead of a counted warning.
    #[arg(long, help_heading = "Bad input")]
    pub strict: bool,
    /// How late a file may be delivered after the eventtime window and still be read
    /// (e.g. 30m, 1h, 2d, or none to prune only by the window's start).
    #[arg(
        long,
        default_value = "1h",
        value_name = "DURATION",
        help_heading = "Pruning"
    )]
    pub late_margin: String,
    /// Parse every record even when a literal filter shows it cannot match.
    #[arg(long, help_heading = "Pruning")]
    pub no_prefilter: bool,
    /// Most bytes one file may inflate to: a file (or decompression bomb) past it is read up
    /// to there and reported. Large files are streamed, so this bounds work, not memory.
    #[arg(long, default_value_t = trailql_decode::inflate::DEFAULT_MAX_INFLATED, value_name = "BYTES", help_heading = "Bad input")]
    pub max_inflated_bytes: u64,
    /// Do not print the summary line and warnings.
    #[arg(short, long, help_heading = "Output")]
    pub quiet: bool,
    /// CloudTrail's public keys (saved by `aws cloudtrail list-public-keys --output json`):
    /// a query that reads the "$verified" column first validates the log files it reads
    /// against their digests, so each row says whether it stands on verified evidence.
    #[arg(long, value_name = "FILE", help_heading = "Integrity")]
    pub public_keys: Option<PathBuf>,
}

/// How to reach s3:// sources. Credentials come from the AWS SDK's chain: environment,
/// AWS_PROFILE / --profile with ~/.aws/config and SSO, web identity, container and instance roles.
#[derive(Args, Debug, Clone)]
pub struct S3Args {
    /// The AWS profile to use (default: AWS_PROFILE, else `default`).
    #[arg(long, value_name = "NAME", help_heading = "S3 sources")]
    pub profile: Option<String>,
    /// Assume this role (e.g. a read-only role in the log-archive account).
    #[arg(long, value_name = "ARN", help_heading = "S3 sources")]
    pub role_arn: Option<String>,
    /// An S3-compatible endpoint instead of AWS (e.g. http://127.0.0.1:9000).
    #[arg(long, value_name = "URL", help_heading = "S3 sources")]
    pub endpoint_url: Option<String>,
    /// The buckets' region (found automatically with HeadBucket when not given).
    #[arg(long, value_name = "REGION", help_heading = "S3 sources")]
    pub bucket_region: Option<String>,
    /// Send unsigned requests (public buckets).
    #[arg(long, help_heading = "S3 sources")]
    pub no_sign_request: bool,
    /// Keep fetched objects in DIR (by bucket, key and ETag): asking again over the same
    /// window reads no S3 bytes.
    #[arg(long, value_name = "DIR", help_heading = "S3 sources")]
    pub cache: Option<PathBuf>,
    /// Most GET requests in flight at once.
    #[arg(
        long,
        default_value_t = 16,
        value_name = "N",
        help_heading = "S3 sources"
    )]
    pub s3_concurrency: usize,
}

#[derive(Args, Debug)]
pub struct QueryArgs {
    #[command(flatten)]
    pub scan: ScanArgs,
    /// The SQL statement (or use --file).
    #[arg(value_name = "SQL", required_unless_present = "file")]
    pub sql: Option<String>,
    /// Read the SQL statement from a file.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        conflicts_with = "sql",
        help_heading = "Query"
    )]
    pub file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table, help_heading = "Output")]
    pub format: Format,
    /// Write the result to a file instead of standard output.
    #[arg(short, long, value_name = "FILE", help_heading = "Output")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub dialect: DialectArgs,
    /// Print the physical plan's scan line (sources, accounts, regions and time window listed,
    /// prefilter, columns) and detailed counts (files listed, pruned by key, read, skipped by the
    /// prefilter, and folders not walked because the filters rule them out).
    #[arg(long, help_heading = "Output")]
    pub stats: bool,
}

/// Which SQL statements are written in.
#[derive(Args, Debug, Clone)]
pub struct DialectArgs {
    /// auto: CloudTrail Lake's SQL when the statement's table is an event data store (its id,
    /// ARN, or a placeholder such as $EDS_ID or <EDS ID>), Athena's otherwise; lake: also read
    /// `cloudtrail_logs` with Lake's schema; athena: never.
    #[arg(long, value_enum, default_value_t = DialectArg::Auto, help_heading = "Query")]
    pub dialect: DialectArg,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialectArg {
    Auto,
    Athena,
    Lake,
}

/// The schemas `trailql schema` prints.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaDialect {
    Athena,
    Lake,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Jsonl,
    Parquet,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Folder to write the trail into (AWSLogs/… and ground-truth.json).
    pub dir: PathBuf,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Approximate number of events.
    #[arg(long, default_value_t = 50_000)]
    pub events: u64,
    #[arg(long, default_value_t = 3)]
    pub accounts: usize,
    /// Comma-separated regions.
    #[arg(
        long,
        default_value = "us-east-1,us-west-2,eu-west-1,ap-southeast-2",
        value_delimiter = ','
    )]
    pub regions: Vec<String>,
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// First day (UTC), YYYY-MM-DD.
    #[arg(long, default_value = "2024-08-01")]
    pub start: String,
    /// Write an organization-trail layout under AWSLogs/<org-id>/.
    #[arg(long, value_name = "o-…")]
    pub org_id: Option<String>,
    /// How many security-group changes to the world to plant (openings and failed attempts).
    #[arg(long, default_value_t = 6)]
    pub openings: usize,
}

/// Which part of the trail an investigation reads.
#[derive(Args, Debug, Clone)]
pub struct ScopeArgs {
    /// Only this account (12 digits).
    #[arg(long, value_name = "ID", help_heading = "Scope")]
    pub account: Option<String>,
    /// Only this region (e.g. us-east-1).
    #[arg(long, help_heading = "Scope")]
    pub region: Option<String>,
    /// From this time (UTC, inclusive): YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ.
    #[arg(long, value_name = "TIME", help_heading = "Scope")]
    pub start: Option<String>,
    /// Until this time (UTC, exclusive).
    #[arg(long, value_name = "TIME", help_heading = "Scope")]
    pub end: Option<String>,
}

/// Sources, output and report options shared by the investigations.
#[derive(Args, Debug, Clone)]
pub struct InvestigateArgs {
    #[command(flatten)]
    pub scan: ScanArgs,
    /// Output format (table shows the main columns; --wide, csv and json show all).
    #[arg(long, value_enum, default_value_t = Format::Table, help_heading = "Output")]
    pub format: Format,
    /// Write the result to a file instead of standard output.
    #[arg(short, long, value_name = "FILE", help_heading = "Output")]
    pub output: Option<std::path::PathBuf>,
    /// Also write a self-contained HTML report (timeline chart, table, the exact query).
    #[arg(long, value_name = "FILE.html", help_heading = "Output")]
    pub report: Option<std::path::PathBuf>,
    /// Show every column in the table format.
    #[arg(long, help_heading = "Output")]
    pub wide: bool,
}

#[derive(Args, Debug)]
pub struct ExposureArgs {
    #[command(flatten)]
    pub common: InvestigateArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Only this security group (id sg-… or name).
    #[arg(long, value_name = "SG", help_heading = "Rules")]
    pub group: Option<String>,
    /// Only rules that let traffic reach this TCP/UDP port (protocol -1 covers every port).
    #[arg(long, help_heading = "Rules")]
    pub port: Option<u16>,
    /// Report any CIDR with public addresses, not only 0.0.0.0/0 and ::/0.
    #[arg(long, help_heading = "Rules")]
    pub public: bool,
}

#[derive(Args, Debug)]
pub struct TimelineArgs {
    /// The resource (history) or principal (activity) to look for.
    #[arg(value_name = "WHAT")]
    pub target: String,
    #[command(flatten)]
    pub common: InvestigateArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// CloudTrail's public keys: the output of `aws cloudtrail list-public-keys --output json`.
    /// Without it, trailql calls CloudTrail's ListPublicKeys for each region it validates, with
    /// the same credentials as for S3 (environment, --profile, --role-arn).
    #[arg(long, value_name = "FILE", help_heading = "Validation")]
    pub public_keys: Option<PathBuf>,
    /// Only this account.
    #[arg(long, value_name = "ID", help_heading = "Validation")]
    pub account: Option<String>,
    /// Only this region.
    #[arg(long, help_heading = "Validation")]
    pub region: Option<String>,
    /// Start of the window (UTC): YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ.
    #[arg(long, value_name = "TIME", help_heading = "Validation")]
    pub start: String,
    /// End of the window (UTC; default: now).
    #[arg(long, value_name = "TIME", help_heading = "Validation")]
    pub end: Option<String>,
    /// Hex signature of the newest digest (its S3 metadata `signature`), for offline copies.
    #[arg(long, value_name = "HEX", help_heading = "Validation")]
    pub newest_signature: Option<String>,
    /// table (readable lines and a summary) or json.
    #[arg(long, value_enum, default_value_t = Format::Table, help_heading = "Output")]
    pub format: Format,
    /// Also print the files that validated.
    #[arg(short, long, help_heading = "Output")]
    pub verbose: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub scan: ScanArgs,
    /// The port to listen on (0: any free one).
    #[arg(long, default_value_t = 8080, help_heading = "Server")]
    pub port: u16,
    /// The address to listen on. Anything but a loopback address lets other machines reach the
    /// server (the token still guards it, over plain HTTP): a warning says so.
    #[arg(
        long,
        default_value = "127.0.0.1",
        value_name = "ADDRESS",
        help_heading = "Server"
    )]
    pub bind: std::net::IpAddr,
    /// Open the page in the default browser.
    #[arg(long, help_heading = "Server")]
    pub open: bool,
}

/// A rule level, lowest first.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LevelArg {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

/// Which rules run (`detect` and `watch`).
#[derive(Args, Debug, Clone)]
pub struct RuleArgs {
    /// Sigma rule files, or folders of them (walked for .yml/.yaml); repeat for several.
    #[arg(long = "rules", value_name = "DIR|FILE", help_heading = "Rules")]
    pub rules: Vec<PathBuf>,
    /// Sigma filter files (known-good activity to silence); repeat for several.
    #[arg(long = "filter", value_name = "FILE", help_heading = "Rules")]
    pub filters: Vec<PathBuf>,
    /// Values for the rules' `|expand` placeholders: YAML, `name: value` or `name: [values]`
    /// (or a processing pipeline's `vars:` block).
    #[arg(long, value_name = "FILE", help_heading = "Rules")]
    pub placeholders: Option<PathBuf>,
    /// Run only the --rules given, not the bundled pack.
    #[arg(long, help_heading = "Rules")]
    pub no_builtin: bool,
    /// Only rules and correlations of this level or above (a correlation keeps the rules and
    /// correlations it counts, their own alerts hidden).
    #[arg(long, value_enum, value_name = "LEVEL", help_heading = "Rules")]
    pub level: Option<LevelArg>,
    /// Only rules and correlations with this tag, or a tag under it (attack.t1562 takes
    /// attack.t1562.008); repeat for several.
    #[arg(long = "tag", value_name = "TAG", help_heading = "Rules")]
    pub tags: Vec<String>,
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    #[command(flatten)]
    pub scan: ScanArgs,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// The folder that keeps what was processed and the alerts not yet delivered (created if
    /// missing; one watch per folder).
    #[arg(long, value_name = "DIR", help_heading = "Watch")]
    pub state: PathBuf,
    /// Where a watch with a new state starts: a time (2024-08-01, 2024-08-01T10:00:00Z) or
    /// how long ago (30m, 2h, 1d). A state that exists goes on from where it was.
    #[arg(
        long,
        default_value = "1h",
        value_name = "TIME",
        help_heading = "Watch"
    )]
    pub start: String,
    /// Only this account.
    #[arg(long, value_name = "ID", help_heading = "Watch")]
    pub account: Option<String>,
    /// Only this region.
    #[arg(long, help_heading = "Watch")]
    pub region: Option<String>,
    /// Seconds between two listings of the sources.
    #[arg(
        long,
        default_value_t = 60,
        value_name = "SECONDS",
        help_heading = "Watch"
    )]
    pub interval: u64,
    /// An SQS queue of delivery notifications (CloudTrail's SNS messages, or S3 event
    /// notifications) to follow; each message is deleted once its files are processed. With
    /// --sqs, -s is optional.
    #[arg(long, value_name = "QUEUE_URL", help_heading = "Watch")]
    pub sqs: Option<String>,
    /// Process what is there now, deliver the alerts, and exit.
    #[arg(long, help_heading = "Watch")]
    pub once: bool,
    /// Validate each new hourly digest (signature, chain, the hash of every log file it lists)
    /// every 5 minutes, and alert on a log file modified or deleted, a digest missing or
    /// failing its signature, or digests that stop (none for 3 h while log files still arrive).
    /// Local copies need the `<digest>.signature` side files. Keys:
    /// --public-keys FILE, else CloudTrail's ListPublicKeys with the credentials for S3.
    #[arg(long, help_heading = "Integrity")]
    pub validate: bool,
    /// Alerts on standard output as JSON lines (with their id and sequence number).
    #[arg(long, help_heading = "Alerts")]
    pub json: bool,
    /// No alerts on standard output (only to the other outputs).
    #[arg(long, help_heading = "Alerts")]
    pub no_stdout: bool,
    /// Append each alert to this JSON-lines file (exactly once, across restarts).
    #[arg(long, value_name = "FILE.jsonl", help_heading = "Alerts")]
    pub alert_file: Option<PathBuf>,
    /// POST each alert as JSON to this URL (retried with backoff; repeat for several).
    #[arg(long, value_name = "URL", help_heading = "Alerts")]
    pub webhook: Vec<String>,
    /// The environment variable holding the webhooks' signing secret.
    #[arg(
        long,
        default_value = "TRAILQL_WEBHOOK_SECRET",
        value_name = "VAR",
        help_heading = "Alerts"
    )]
    pub webhook_secret_env: String,
    /// Post each alert as a readable message to this Slack incoming-webhook URL.
    #[arg(long, value_name = "URL", help_heading = "Alerts")]
    pub slack_webhook: Option<String>,
}

#[derive(Args, Debug)]
pub struct DetectArgs {
    #[command(flatten)]
    pub scan: ScanArgs,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Print the rules that would run (id, level, title, tags, file) and exit.
    #[arg(long, help_heading = "Rules")]
    pub list: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table, help_heading = "Output")]
    pub format: Format,
    /// Write the alerts to a file instead of standard output.
    #[arg(short, long, value_name = "FILE", help_heading = "Output")]
    pub output: Option<PathBuf>,
    /// Also write a self-contained HTML report: the alerts on a timeline by actor and level,
    /// their table, and the rules that ran.
    #[arg(long, value_name = "FILE.html", help_heading = "Output")]
    pub report: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct LakeArgs {
    #[command(subcommand)]
    pub command: LakeCommand,
}

#[derive(Subcommand, Debug)]
pub enum LakeCommand {
    /// Convert the trail files the lake does not hold yet (new or changed since the last sync).
    Sync(LakeSyncArgs),
    /// Merge each partition's files into one (sorted, duplicates dropped), in bounded memory.
    Compact(LakeCompactArgs),
    /// Print the statement that registers the lake in another engine.
    Ddl(LakeDdlArgs),
}

#[derive(Args, Debug)]
pub struct LakeSyncArgs {
    #[command(flatten)]
    pub scan: ScanArgs,
    /// The lake: a local folder or s3://BUCKET/PREFIX (created on first sync).
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub lake: String,
    /// Only trail files delivered from this time (ISO 8601, e.g. 2024-08-01 or 2024-08-01T10:00:00Z).
    #[arg(long, value_name = "TIME", help_heading = "Scope")]
    pub start: Option<String>,
    /// Only trail files delivered before this time.
    #[arg(long, value_name = "TIME", help_heading = "Scope")]
    pub end: Option<String>,
    /// Rows held in memory before they are written, in MB (more: fewer, larger files).
    #[arg(long, default_value_t = 16, value_name = "MB")]
    pub buffer_mb: usize,
}

#[derive(Args, Debug)]
pub struct LakeCompactArgs {
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub lake: String,
    #[command(flatten)]
    pub s3: S3Args,
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DdlEngine {
    Athena,
    Spark,
    Trino,
    Duckdb,
}

#[derive(Args, Debug)]
pub struct LakeDdlArgs {
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub lake: String,
    #[arg(long, value_enum)]
    pub engine: DdlEngine,
    /// The table (or view) name to create.
    #[arg(long, default_value = "cloudtrail_logs")]
    pub table: String,
    #[command(flatten)]
    pub s3: S3Args,
}
