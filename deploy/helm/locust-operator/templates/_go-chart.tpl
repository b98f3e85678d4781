{{/*
Values files of the Go operator's chart (AbdelrhmanHamouda/locust-k8s-operator, chart 2.3.0), so
that switching is `helm upgrade` with the values file one has. Each Go key is translated into
this chart's key, accepted because its value changes nothing here, or rejected with a message
naming the key and what to use instead: never ignored. README.md ("Switching from the Go
operator's chart") lists every key.

values.schema.json admits the Go keys (with their types), so that users see these messages
rather than "additional properties not allowed".

Precedence: a key of this chart and the Go key for the same thing must agree when both are set,
else rendering fails naming both. The keys a Go key can set are null in values.yaml, so that a
value there is always the user's; their defaults are filled in here, after the translation.
*/}}

{{/*
.Values with the Go keys translated and this chart's defaults of the keys they can set, as
JSON: `$values := include "locust-operator.values" . | fromJson`. Templates read those keys
through it (the others from .Values); a Go key without a meaning fails here, whichever template
renders first.
*/}}
{{- define "locust-operator.values" -}}
{{- /* A copy (plain maps, every number a float64) that the translation may change. */ -}}
{{- $values := .Values | toJson | fromJson -}}
{{- $context := dict "values" $values "root" . -}}
{{- $_ := include "locust-operator.goChart.reject" $context -}}
{{- $_ := include "locust-operator.goChart.translate" $context -}}
{{- if kindIs "invalid" $values.replicas -}}
{{- $_ := set $values "replicas" 2 -}}
{{- end -}}
{{- if kindIs "invalid" $values.certificates.mode -}}
{{- $_ := set $values.certificates "mode" "certManager" -}}
{{- end -}}
{{- if kindIs "invalid" $values.namespaced.enabled -}}
{{- $_ := set $values.namespaced "enabled" false -}}
{{- end -}}
{{- $_ := include "locust-operator.goChart.budget" $context -}}
{{- toJson $values -}}
{{- end -}}

{{/*
(list MAP "a.b.c"): `{"value": ...}` when MAP has a non-null value at that path, else `{}`.
*/}}
{{- define "locust-operator.lookup" -}}
{{- $node := index . 0 -}}
{{- $found := true -}}
{{- range $key := splitList "." (index . 1) -}}
{{- /* Nested ifs: `and` evaluates all its arguments in Helm built with Go < 1.18. */ -}}
{{- if and $found (kindIs "map" $node) -}}
{{- if hasKey $node $key -}}
{{- $node = index $node $key -}}
{{- else -}}
{{- $found = false -}}
{{- end -}}
{{- else -}}
{{- $found = false -}}
{{- end -}}
{{- end -}}
{{- if and $found (not (kindIs "invalid" $node)) -}}
{{- toJson (dict "value" $node) -}}
{{- else -}}
{}
{{- end -}}
{{- end -}}

{{/*
(list $values "a.b.c" VALUE SHOWN): sets this chart's key a.b.c to VALUE, what the Go key
described by SHOWN means here. Fails when a.b.c is already set to something else.
*/}}
{{- define "locust-operator.goChart.set" -}}
{{- $values := index . 0 -}}
{{- $ours := index . 1 -}}
{{- $value := index . 2 -}}
{{- $current := include "locust-operator.lookup" (list $values $ours) | fromJson -}}
{{- if and (hasKey $current "value") (ne (toJson $current.value) (toJson $value)) -}}
{{- fail (printf "locust-operator: value %s of the Go operator's chart means `%s: %s` here, which conflicts with `%s: %s`: keep only one of them" (index . 3) $ours (toJson $value) $ours (toJson $current.value)) -}}
{{- end -}}
{{- $node := $values -}}
{{- $keys := splitList "." $ours -}}
{{- range $key := initial $keys -}}
{{- if not (kindIs "map" (index $node $key)) -}}
{{- $_ := set $node $key (dict) -}}
{{- end -}}
{{- $node = index $node $key -}}
{{- end -}}
{{- $_ := set $node (last $keys) $value -}}
{{- end -}}

{{/* A number as a quantity string: 2 as "2" (not "2e+00"), 0.5 as "0.5". */}}
{{- define "locust-operator.goChart.number" -}}
{{- if eq (float64 (int64 .)) (float64 .) -}}
{{- int64 . -}}
{{- else -}}
{{- . -}}
{{- end -}}
{{- end -}}

{{/* The Go keys that have a meaning here, translated into this chart's keys. */}}
{{- define "locust-operator.goChart.translate" -}}
{{- $values := .values -}}
{{- $root := .root -}}

{{- /*
Renames. "" is no value in the Go chart (its templates test truthiness): there an empty
quantity means the default, here it would remove the request or limit, so it is left unset.
*/ -}}
{{- range $rename := list
    (list "replicaCount" "replicas" "plain")
    (list "locustPods.resources.requests.cpu" "locustPods.resources.cpuRequest" "quantity")
    (list "locustPods.resources.requests.memory" "locustPods.resources.memRequest" "quantity")
    (list "locustPods.resources.requests.ephemeralStorage" "locustPods.resources.ephemeralRequest" "quantity")
    (list "locustPods.resources.limits.cpu" "locustPods.resources.cpuLimit" "quantity")
    (list "locustPods.resources.limits.memory" "locustPods.resources.memLimit" "quantity")
    (list "locustPods.resources.limits.ephemeralStorage" "locustPods.resources.ephemeralLimit" "quantity")
    (list "locustPods.masterResources.requests.cpu" "locustPods.resources.master.cpuRequest" "quantity")
    (list "locustPods.masterResources.requests.memory" "locustPods.resources.master.memRequest" "quantity")
    (list "locustPods.masterResources.requests.ephemeralStorage" "locustPods.resources.master.ephemeralRequest" "quantity")
    (list "locustPods.masterResources.limits.cpu" "locustPods.resources.master.cpuLimit" "quantity")
    (list "locustPods.masterResources.limits.memory" "locustPods.resources.master.memLimit" "quantity")
    (list "locustPods.masterResources.limits.ephemeralStorage" "locustPods.resources.master.ephemeralLimit" "quantity")
    (list "locustPods.workerResources.requests.cpu" "locustPods.resources.worker.cpuRequest" "quantity")
    (list "locustPods.workerResources.requests.memory" "locustPods.resources.worker.memRequest" "quantity")
    (list "locustPods.workerResources.requests.ephemeralStorage" "locustPods.resources.worker.ephemeralRequest" "quantity")
    (list "locustPods.workerResources.limits.cpu" "locustPods.resources.worker.cpuLimit" "quantity")
    (list "locustPods.workerResources.limits.memory" "locustPods.resources.worker.memLimit" "quantity")
    (list "locustPods.workerResources.limits.ephemeralStorage" "locustPods.resources.worker.ephemeralLimit" "quantity")
    (list "locustPods.metricsExporter.resources.requests.cpu" "locustPods.metricsExporter.resources.cpuRequest" "quantity")
    (list "locustPods.metricsExporter.resources.requests.memory" "locustPods.metricsExporter.resources.memRequest" "quantity")
    (list "locustPods.metricsExporter.resources.requests.ephemeralStorage" "locustPods.metricsExporter.resources.ephemeralRequest" "quantity")
    (list "locustPods.metricsExporter.resources.limits.cpu" "locustPods.metricsExporter.resources.cpuLimit" "quantity")
    (list "locustPods.metricsExporter.resources.limits.memory" "locustPods.metricsExporter.resources.memLimit" "quantity")
    (list "locustPods.metricsExporter.resources.limits.ephemeralStorage" "locustPods.metricsExporter.resources.ephemeralLimit" "quantity")
-}}
{{- $go := index $rename 0 -}}
{{- $got := include "locust-operator.lookup" (list $values $go) | fromJson -}}
{{- if and (hasKey $got "value") (ne (toJson $got.value) (toJson "")) -}}
{{- $value := $got.value -}}
{{- if and (eq (index $rename 2) "quantity") (not (kindIs "string" $value)) -}}
{{- $value = include "locust-operator.goChart.number" $value -}}
{{- end -}}
{{- $_ := include "locust-operator.goChart.set" (list $values (index $rename 1) $value (printf "`%s: %s`" $go (toJson $got.value))) -}}
{{- end -}}
{{- end -}}

{{- /* locustPods.ttlSecondsAfterFinished, the same key in both charts: the Go chart's "" is no
TTL, and it took a number in quotes. */ -}}
{{- $ttl := include "locust-operator.lookup" (list $values "locustPods.ttlSecondsAfterFinished") | fromJson -}}
{{- if and (hasKey $ttl "value") (kindIs "string" $ttl.value) -}}
{{- if eq $ttl.value "" -}}
{{- $_ := unset $values.locustPods "ttlSecondsAfterFinished" -}}
{{- else if gt (atoi $ttl.value) 2147483647 -}}
{{- fail (printf "locust-operator: value `locustPods.ttlSecondsAfterFinished: %s` is more than 2147483647 seconds" (toJson $ttl.value)) -}}
{{- else -}}
{{- $_ := set $values.locustPods "ttlSecondsAfterFinished" (atoi $ttl.value) -}}
{{- end -}}
{{- end -}}

{{- /* image.repository, the same key in both charts: the Go chart's default names the Go
operator's image, which this chart cannot run; it stands for "the operator's image". */ -}}
{{- if eq (toString $values.image.repository) "lotest/locust-k8s-operator" -}}
{{- if $values.image.tag -}}
{{- fail (printf "locust-operator: value `image.tag: %s` with `image.repository: lotest/locust-k8s-operator` of the Go operator's chart is not supported here: that is an image of the Go operator, which this chart cannot run: remove both (the default is this operator's image, tagged with the chart's appVersion)" (toJson $values.image.tag)) -}}
{{- end -}}
{{- $_ := set $values.image "repository" "ghcr.io/locust-operator/locust-operator" -}}
{{- end -}}

{{- /* image.pullSecrets: names; imagePullSecrets: LocalObjectReferences. */ -}}
{{- $pullSecrets := include "locust-operator.lookup" (list $values "image.pullSecrets") | fromJson -}}
{{- if and (hasKey $pullSecrets "value") $pullSecrets.value -}}
{{- $references := list -}}
{{- range $name := $pullSecrets.value -}}
{{- $references = append $references (dict "name" $name) -}}
{{- end -}}
{{- if not $values.imagePullSecrets -}}
{{- $_ := unset $values "imagePullSecrets" -}}
{{- end -}}
{{- $_ := include "locust-operator.goChart.set" (list $values "imagePullSecrets" $references (printf "`image.pullSecrets: %s`" (toJson $pullSecrets.value))) -}}
{{- end -}}

{{- /*
webhook.enabled and webhook.certManager.enabled: here the webhooks always run (validation,
defaulting and the v1/v2 conversion of the CRD cannot be turned off), so the Go keys choose
where their certificate comes from. Without webhooks the Go chart needed no certificate: here
the operator makes its own (selfManaged). With cert-manager: certManager. Without: the Go chart
mounted the user's Secret `<fullname>-webhook-certs` and injected no CA: provided, which needs
that CA.
*/ -}}
{{- $webhookEnabled := include "locust-operator.lookup" (list $values "webhook.enabled") | fromJson -}}
{{- $certManager := include "locust-operator.lookup" (list $values "webhook.certManager.enabled") | fromJson -}}
{{- if or (hasKey $webhookEnabled "value") (hasKey $certManager "value") -}}
{{- if not (and (hasKey $webhookEnabled "value") $webhookEnabled.value) -}}
{{- $shown := "`webhook.certManager.enabled` without `webhook.enabled` (false there by default)" -}}
{{- if hasKey $webhookEnabled "value" -}}
{{- $shown = "`webhook.enabled: false`" -}}
{{- end -}}
{{- $_ := include "locust-operator.goChart.set" (list $values "certificates.mode" "selfManaged" $shown) -}}
{{- else if or (not (hasKey $certManager "value")) $certManager.value -}}
{{- $_ := include "locust-operator.goChart.set" (list $values "certificates.mode" "certManager" "`webhook.enabled: true` with `webhook.certManager.enabled: true`") -}}
{{- else -}}
{{- $shown := "`webhook.enabled: true` with `webhook.certManager.enabled: false`" -}}
{{- $_ := include "locust-operator.goChart.set" (list $values "certificates.mode" "provided" $shown) -}}
{{- if not $values.certificates.provided.secretName -}}
{{- $_ := set $values.certificates.provided "secretName" (printf "%s-webhook-certs" (include "locust-operator.fullname" $root)) -}}
{{- end -}}
{{- if not $values.certificates.provided.caBundle -}}
{{- fail (printf "locust-operator: value %s of the Go operator's chart means `certificates.mode: \"provided\"` here, with your certificate in the Secret `%s`, which also needs the CA that signed it: set `certificates.provided.caBundle` (`base64 -w0 ca.crt`), or remove the `webhook` keys and choose another `certificates.mode`" $shown $values.certificates.provided.secretName) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* k8s.clusterRole.enabled: false gave the operator a Role in its own namespace only. */ -}}
{{- $clusterRole := include "locust-operator.lookup" (list $values "k8s.clusterRole.enabled") | fromJson -}}
{{- if hasKey $clusterRole "value" -}}
{{- $shown := printf "`k8s.clusterRole.enabled: %s`" (toJson $clusterRole.value) -}}
{{- $_ := include "locust-operator.goChart.set" (list $values "namespaced.enabled" (not $clusterRole.value) $shown) -}}
{{- if not $clusterRole.value -}}
{{- if not $values.namespaced.namespaces -}}
{{- $_ := unset $values.namespaced "namespaces" -}}
{{- end -}}
{{- $_ := include "locust-operator.goChart.set" (list $values "namespaced.namespaces" (list $root.Release.Namespace) $shown) -}}
{{- end -}}
{{- end -}}

{{- /*
kafka.*: only with kafka.enabled, and its security settings only with kafka.security.enabled,
as in the Go chart (otherwise they changed nothing there either). A Go key left out takes the Go
chart's default only where this chart's key is unset too; the operator's own defaults are the
same (SASL_PLAINTEXT, SCRAM-SHA-512, key `password`), but for bootstrapServers.
*/ -}}
{{- $kafkaEnabled := include "locust-operator.lookup" (list $values "kafka.enabled") | fromJson -}}
{{- if and (hasKey $kafkaEnabled "value") $kafkaEnabled.value -}}
{{- $servers := include "locust-operator.lookup" (list $values "kafka.bootstrapServers") | fromJson -}}
{{- if and (hasKey $servers "value") $servers.value -}}
{{- $_ := include "locust-operator.goChart.set" (list $values "locustPods.kafka.bootstrapServers" $servers.value (printf "`kafka.bootstrapServers: %s`" (toJson $servers.value))) -}}
{{- else if not $values.locustPods.kafka.bootstrapServers -}}
{{- $_ := include "locust-operator.goChart.set" (list $values "locustPods.kafka.bootstrapServers" "localhost:9092" "`kafka.enabled: true`") -}}
{{- end -}}
{{- $security := include "locust-operator.lookup" (list $values "kafka.security.enabled") | fromJson -}}
{{- if hasKey $security "value" -}}
{{- $_ := include "locust-operator.goChart.set" (list $values "locustPods.kafka.securityEnabled" $security.value (printf "`kafka.security.enabled: %s`" (toJson $security.value))) -}}
{{- end -}}
{{- if and (hasKey $security "value") $security.value -}}
{{- range $rename := list
    (list "kafka.security.protocol" "locustPods.kafka.securityProtocol" "plain")
    (list "kafka.security.saslMechanism" "locustPods.kafka.saslMechanism" "plain")
    (list "kafka.security.jaasConfig" "locustPods.kafka.saslJaasConfig" "plain")
    (list "kafka.credentials.secretName" "locustPods.kafka.passwordSecret.name" "plain")
    (list "kafka.credentials.passwordKey" "locustPods.kafka.passwordSecret.key" "plain")
-}}
{{- $got := include "locust-operator.lookup" (list $values (index $rename 0)) | fromJson -}}
{{- if and (hasKey $got "value") $got.value -}}
{{- $_ := include "locust-operator.goChart.set" (list $values (index $rename 1) $got.value (printf "`%s: %s`" (index $rename 0) (toJson $got.value))) -}}
{{- end -}}
{{- end -}}
{{- /* The Go operator read the user name from the Secret too; this one takes it as a value. */ -}}
{{- $secret := include "locust-operator.lookup" (list $values "kafka.credentials.secretName") | fromJson -}}
{{- if and (hasKey $secret "value") $secret.value (not $values.locustPods.kafka.username) -}}
{{- $usernameKey := include "locust-operator.lookup" (list $values "kafka.credentials.usernameKey") | fromJson -}}
{{- fail (printf "locust-operator: value `kafka.credentials.secretName` of the Go operator's chart needs `locustPods.kafka.username` here: this operator takes the Kafka user name as a value, so set it to what key `%s` of the Secret `%s` holds (the password stays in that Secret, which must exist in each test's namespace)" ($usernameKey.value | default "username") $secret.value) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The Go keys without a meaning here: accepted only at a value that changes nothing (the Go
chart's default, or what this chart does anyway), else rejected naming what to do instead.
*/}}
{{- define "locust-operator.goChart.reject" -}}
{{- $values := .values -}}
{{- $root := .root -}}
{{- $unsupported := "locust-operator: value `%s` of the Go operator's chart is not supported here: %s" -}}

{{- range $inert := list
    (list "extraEnv" (list) "the operator takes its settings from this chart's values (its environment variables from `locustPods`): remove it")
    (list "metrics.secure" false "the operator serves /metrics over plain HTTP only: remove it")
    (list "serviceAccount.create" true "the chart always creates the operator's ServiceAccount, with exactly the permissions it uses: remove it")
    (list "serviceAccount.name" "" "the ServiceAccount is named like every object of the release: use `fullnameOverride` instead")
    (list "serviceAccount.annotations" (dict) "the operator needs no cloud identity (it only talks to the Kubernetes API), so the chart sets no ServiceAccount annotations: remove it")
    (list "otelCollector.enabled" false "the chart installs no OpenTelemetry Collector: deploy one separately, point the tests' `spec.observability.openTelemetry.endpoint` at it, and remove `otelCollector`")
-}}
{{- $got := include "locust-operator.lookup" (list $values (index $inert 0)) | fromJson -}}
{{- if and (hasKey $got "value") (ne (toJson $got.value) (toJson (index $inert 1))) -}}
{{- fail (printf $unsupported (index $inert 0) (index $inert 2)) -}}
{{- end -}}
{{- end -}}

{{- /* The operator's security contexts are fixed (restricted); agreeing fields change nothing. */ -}}
{{- range $context := list
    (list "podSecurityContext" "locust-operator.podSecurityContext")
    (list "containerSecurityContext" "locust-operator.containerSecurityContext")
-}}
{{- $got := include "locust-operator.lookup" (list $values (index $context 0)) | fromJson -}}
{{- if hasKey $got "value" -}}
{{- $ours := include (index $context 1) $root | fromYaml -}}
{{- $agrees := false -}}
{{- if kindIs "map" $got.value -}}
{{- $agrees = gt (len $got.value) 0 -}}
{{- end -}}
{{- if $agrees -}}
{{- range $field, $value := $got.value -}}
{{- if ne (toJson $value) (toJson (index $ours $field)) -}}
{{- $agrees = false -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not $agrees -}}
{{- fail (printf $unsupported (index $context 0) (printf "the chart always sets the restricted security context %s: remove it (fields that agree with it are accepted)" (toJson $ours))) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /*
config.*: the Go chart's deprecated paths from its 1.x values. Its 2.3.0 templates read them
only where the new path is empty, which its own defaults rarely are, so mapping them would
change what a Go install did: each is rejected, naming the key to use.
*/ -}}
{{- $config := include "locust-operator.lookup" (list $values "config") | fromJson -}}
{{- if hasKey $config "value" -}}
{{- $leaves := include "locust-operator.goChart.leaves" (list "config" $config.value) | trim -}}
{{- if $leaves -}}
{{- $leaf := first (splitList "\n" $leaves) -}}
{{- $instead := get (dict
    "config.loadGenerationJobs.ttlSecondsAfterFinished" "`locustPods.ttlSecondsAfterFinished`"
    "config.loadGenerationPods.resource.cpuRequest" "`locustPods.resources.cpuRequest`"
    "config.loadGenerationPods.resource.memRequest" "`locustPods.resources.memRequest`"
    "config.loadGenerationPods.resource.ephemeralRequest" "`locustPods.resources.ephemeralRequest`"
    "config.loadGenerationPods.resource.cpuLimit" "`locustPods.resources.cpuLimit`"
    "config.loadGenerationPods.resource.memLimit" "`locustPods.resources.memLimit`"
    "config.loadGenerationPods.resource.ephemeralLimit" "`locustPods.resources.ephemeralLimit`"
    "config.loadGenerationPods.affinity.enableCrInjection" "`locustPods.affinityInjection`"
    "config.loadGenerationPods.taintTolerations.enableCrInjection" "`locustPods.tolerationsInjection`"
    "config.loadGenerationPods.metricsExporter.image" "`locustPods.metricsExporter.image`"
    "config.loadGenerationPods.metricsExporter.port" "`locustPods.metricsExporter.port`"
    "config.loadGenerationPods.metricsExporter.pullPolicy" "`locustPods.metricsExporter.pullPolicy`"
    "config.loadGenerationPods.metricsExporter.resource.cpuRequest" "`locustPods.metricsExporter.resources.cpuRequest`"
    "config.loadGenerationPods.metricsExporter.resource.memRequest" "`locustPods.metricsExporter.resources.memRequest`"
    "config.loadGenerationPods.metricsExporter.resource.ephemeralRequest" "`locustPods.metricsExporter.resources.ephemeralRequest`"
    "config.loadGenerationPods.metricsExporter.resource.cpuLimit" "`locustPods.metricsExporter.resources.cpuLimit`"
    "config.loadGenerationPods.metricsExporter.resource.memLimit" "`locustPods.metricsExporter.resources.memLimit`"
    "config.loadGenerationPods.metricsExporter.resource.ephemeralLimit" "`locustPods.metricsExporter.resources.ephemeralLimit`"
    "config.loadGenerationPods.kafka.bootstrapServers" "`locustPods.kafka.bootstrapServers`"
    "config.loadGenerationPods.kafka.acl.enabled" "`locustPods.kafka.securityEnabled`"
    "config.loadGenerationPods.kafka.acl.protocol" "`locustPods.kafka.securityProtocol`"
    "config.loadGenerationPods.kafka.sasl.mechanism" "`locustPods.kafka.saslMechanism`"
    "config.loadGenerationPods.kafka.sasl.jaas.config" "`locustPods.kafka.saslJaasConfig`"
    "config.loadGenerationPods.kafka.locustK8sKafkaUser.userName" "`locustPods.kafka.passwordSecret.name` (a Secret in each test's namespace) and `locustPods.kafka.username`"
    "config.loadGenerationPods.kafka.acl.secret.userKey" "`locustPods.kafka.username` (the user name itself)"
    "config.loadGenerationPods.kafka.acl.secret.passwordKey" "`locustPods.kafka.passwordSecret.key`"
  ) $leaf -}}
{{- fail (printf "locust-operator: value `%s` of the Go operator's chart (a deprecated path of its 1.x values) is not supported here: use %s instead" $leaf ($instead | default "the keys under `locustPods`")) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
podDisruptionBudget: accepted when it describes this chart's budget, which keeps one replica
available (minAvailable: 1) when there are more than one, so that a replica always serves the
webhooks. Needs the final replicas (replicas or replicaCount).
*/}}
{{- define "locust-operator.goChart.budget" -}}
{{- $values := .values -}}
{{- $budget := include "locust-operator.lookup" (list $values "podDisruptionBudget") | fromJson -}}
{{- $replicas := int $values.replicas -}}
{{- if and (hasKey $budget "value") (gt $replicas 1) -}}
{{- $enabled := include "locust-operator.lookup" (list $values "podDisruptionBudget.enabled") | fromJson -}}
{{- $maxUnavailable := include "locust-operator.lookup" (list $values "podDisruptionBudget.maxUnavailable") | fromJson -}}
{{- $keeps := printf "this chart keeps one of the %d replicas available (minAvailable: 1, which is maxUnavailable: %d) so that the webhooks stay served: remove it" $replicas (sub $replicas 1) -}}
{{- if and (hasKey $enabled "value") (not $enabled.value) -}}
{{- fail (printf "locust-operator: value `podDisruptionBudget.enabled: false` of the Go operator's chart is not supported here: %s" $keeps) -}}
{{- end -}}
{{- $allowed := int (ternary $maxUnavailable.value 1 (hasKey $maxUnavailable "value")) -}}
{{- if ne $allowed (sub $replicas 1) -}}
{{- fail (printf "locust-operator: value `podDisruptionBudget` of the Go operator's chart (maxUnavailable: %d) is not supported here: %s" $allowed $keeps) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* (list PREFIX MAP): the dotted paths of MAP's non-null leaves, one a line, sorted. */}}
{{- define "locust-operator.goChart.leaves" -}}
{{- $prefix := index . 0 -}}
{{- $node := index . 1 -}}
{{- if kindIs "map" $node -}}
{{- range $key, $child := $node -}}
{{- include "locust-operator.goChart.leaves" (list (printf "%s.%s" $prefix $key) $child) -}}
{{- end -}}
{{- else if not (kindIs "invalid" $node) -}}
{{- printf "%s\n" $prefix -}}
{{- end -}}
{{- end -}}
